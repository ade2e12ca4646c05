// P hand-off (Go's sysmon): a goroutine stuck in a blocking call or a loop
// without scheduling points must not starve the others, even with one P.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <goro/goro.hpp>
#include <thread>

#include "test_util.hpp"

using namespace std::chrono_literals;

namespace {

struct one_proc : ::testing::Test {
  int old = 0;
  void SetUp() override { old = goro::set_max_procs(1); }
  void TearDown() override { goro::set_max_procs(old); }
};

// The longest gap between ticks of a 5 ms ticker while `blocker` runs.
goro::clock::duration max_tick_gap_while(std::function<void()> blocker) {
  goro::clock::duration worst{};
  goro::run([&] {
    std::atomic<bool> done{false};
    auto finished = goro::make_chan<void>();
    goro::go([&, finished]() mutable {
      goro::ticker tk(5ms);
      auto last = goro::clock::now();
      while (!done.load()) {
        tk.c().recv();
        auto now = goro::clock::now();
        worst = std::max(worst, now - last);
        last = now;
      }
      finished.close();
    });
    goro::sleep(20ms);  // the ticker is running
    goro::go([&] {
      blocker();
      done = true;
    });
    finished.recv();
  });
  return worst;
}

}  // namespace

using Sysmon = one_proc;

// Go: a goroutine spinning until another sets a flag must finish, though it
// never reaches a scheduling point and there is a single P.
TEST_F(Sysmon, SpinningGoroutineDoesNotStarveTheOneThatReleasesIt) {
  std::atomic<bool> flag{false};
  goro::run([&] {
    auto started = goro::make_chan<void>();
    auto done = goro::make_chan<void>();
    goro::go([&, started, done]() mutable {
      started.close();
      while (!flag.load(std::memory_order_acquire)) {
      }
      done.close();
    });
    // We get past this only once sysmon takes the P from the spinner.
    started.recv();
    goro::go([&] { flag.store(true, std::memory_order_release); });
    done.recv();
  });
  EXPECT_TRUE(flag.load());
}

// An unannotated 200 ms read() holds the P; sysmon notices after ~10 ms and
// hands the P over, so the ticker keeps ticking.
TEST_F(Sysmon, UnannotatedBlockingReadDoesNotStallOthers) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread writer([&] {
    std::this_thread::sleep_for(200ms);
    char c = 'x';
    EXPECT_EQ(write(fds[1], &c, 1), 1);
  });
  auto gap = max_tick_gap_while([&] {
    char c;
    EXPECT_EQ(read(fds[0], &c, 1), 1);
  });
  writer.join();
  close(fds[0]);
  close(fds[1]);
  // ~20 ms is typical; without a hand-off the gap would be >= 200 ms.
  EXPECT_LT(gap, 120ms);
  std::printf("longest tick gap: %.1f ms\n", std::chrono::duration<double, std::milli>(gap).count());
}

TEST_F(Sysmon, AnnotatedBlockingCallHandsOffQuickly) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::thread writer([&] {
    std::this_thread::sleep_for(200ms);
    char c = 'x';
    EXPECT_EQ(write(fds[1], &c, 1), 1);
  });
  auto gap = max_tick_gap_while([&] {
    char c;
    ssize_t n = goro::blocking([&] { return read(fds[0], &c, 1); });
    EXPECT_EQ(n, 1);
  });
  writer.join();
  close(fds[0]);
  close(fds[1]);
  EXPECT_LT(gap, 120ms);
  std::printf("longest tick gap: %.1f ms\n", std::chrono::duration<double, std::milli>(gap).count());
}

TEST_F(Sysmon, BlockingReturnsValueAndKeepsWorking) {
  goro::run([] {
    int v = goro::blocking([] { return 42; });  // fast path: keeps the P
    EXPECT_EQ(v, 42);
    goro::blocking([] { std::this_thread::sleep_for(30ms); });  // P taken meanwhile
    auto c = goro::make_chan<int>(1);
    c.send(7);
    EXPECT_EQ(*c.recv(), 7);
    EXPECT_THROW(goro::blocking([]() -> int { throw std::runtime_error("x"); }), std::runtime_error);
    goro::yield();
  });
  EXPECT_EQ(goro::blocking([] { return 1; }), 1);  // plain thread: just calls
}

TEST_F(Sysmon, ManyGoroutinesInBlockingCallsAllComplete) {
  const int n = 16;
  std::atomic<int> done{0};
  goro::run([&] {
    goro::wait_group wg;
    for (int i = 0; i < n; ++i)
      wg.go([&] {
        goro::blocking([] { std::this_thread::sleep_for(20ms); });
        goro::yield();
        done++;
      });
    wg.wait();
  });
  EXPECT_EQ(done.load(), n);
}
