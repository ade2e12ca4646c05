// The runtime core: spawning, parking, scheduling, stacks, per-thread state,
// panics and process exit.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <cerrno>
#include <goro/goro.hpp>
#include <goro/testing.hpp>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "export_test.hpp"
#include "test_util.hpp"

using goro_test::scaled;

namespace {

// A counter the test thread can wait on without goro (it must not depend on
// the primitives under test).
struct latch {
  std::atomic<long> left;
  explicit latch(long n) : left(n) {}
  void count_down() { left.fetch_sub(1, std::memory_order_acq_rel); }
  bool wait() {
    return goro_test::eventually([&] { return left.load(std::memory_order_acquire) == 0; },
                                 std::chrono::seconds(120));
  }
};

// Wakes each goroutine parked on wake[i] (from this plain thread, so each
// resumes on whichever M takes it) for at least min_rounds rounds, then keeps
// going until every goroutine has been counted in `migrated` once on average,
// or 20 s have passed; then closes the channels. Which M a woken goroutine
// resumes on is up to the scheduler and the kernel: CI once ran 50 rounds in
// 4 ms without ever scheduling the second M.
void wake_until_migrated(std::vector<goro::chan<int>>& wake, int min_rounds,
                         const std::atomic<int>& migrated) {
  const int n = static_cast<int>(wake.size());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int r = 0; r < min_rounds ||
                  (migrated.load() < n && std::chrono::steady_clock::now() < deadline);
       ++r)
    for (auto& c : wake) c.send(r);
  for (auto& c : wake) c.close();
}

// errno and pthread_self are declared `const` by glibc, so a compiler may
// reuse a result computed before a park after it, when the goroutine may run
// on another thread (PITFALLS.md). `noinline` alone is not enough: GCC and
// Clang infer that a wrapper of a const function is itself const. The empty
// asm with a memory clobber makes each wrapper call opaque.
[[gnu::noinline]] int read_errno() {
  asm volatile("" ::: "memory");
  return errno;
}
[[gnu::noinline]] void write_errno(int v) {
  asm volatile("" ::: "memory");
  errno = v;
}
[[gnu::noinline]] pthread_t current_thread() {
  asm volatile("" ::: "memory");
  return pthread_self();
}

long count_mappings() {
  FILE* f = std::fopen("/proc/self/maps", "r");
  long n = 0;
  for (int ch; (ch = std::fgetc(f)) != EOF;) n += ch == '\n';
  std::fclose(f);
  return n;
}

}  // namespace

TEST(Runtime, RunReturnsMainResult) {
  EXPECT_EQ(goro::run([] { return 42; }), 42);
  EXPECT_EQ(goro::run([] {}), 0);
}

TEST(Runtime, GoroutineIdentity) {
  EXPECT_FALSE(goro::in_goroutine());
  EXPECT_EQ(goro::goroutine_id(), 0u);
  std::uint64_t a = 0, b = 0;
  goro::run([&] {
    EXPECT_TRUE(goro::in_goroutine());
    a = goro::goroutine_id();
    auto done = goro::make_chan<void>();
    goro::go([&, done]() mutable {
      b = goro::goroutine_id();
      done.close();
    });
    done.recv();
  });
  EXPECT_NE(a, 0u);
  EXPECT_NE(b, 0u);
  EXPECT_NE(a, b);
}

TEST(Runtime, GoPassesArgumentsByValue) {
  auto out = goro::make_chan<std::string>(1);
  std::string s = "hello";
  goro::go([](goro::chan<std::string> c, std::string v, int n) { c.send(v + std::to_string(n)); },
           out, s, 7);
  s = "changed";
  EXPECT_EQ(*out.recv(), "hello7");
  // Move-only arguments and large closures (heap-stored) work too.
  auto p = std::make_unique<int>(5);
  std::array<char, 512> big{};
  big[100] = 3;
  goro::go([out, big](std::unique_ptr<int> q) mutable { out.send(std::to_string(*q + big[100])); },
           std::move(p));
  EXPECT_EQ(*out.recv(), "8");
}

constexpr bool tsan() {
#if defined(GORO_TSAN)
  return true;
#else
  return false;
#endif
}

// A million in the plain build; sanitizers keep per-goroutine state that makes
// that take minutes, so they run 20,000.
int million() { return goro_test::max_live(goro_test::sanitizer_build() ? 20'000 : 1'000'000) / (tsan() ? 2 : 1); }

TEST(Runtime, OneMillionGoroutinesSpawnedAndCompleted) {
  const int n = million();
  std::atomic<int> ran{0};
  goro::run([&] {
    for (int i = 0; i < n; ++i) goro::go([&] { ran.fetch_add(1, std::memory_order_relaxed); });
    while (ran.load() < n) goro::yield();
  });
  EXPECT_EQ(ran.load(), n);
  EXPECT_TRUE(goro_test::eventually([] { return goro::num_goroutine() == 0; }));
}

TEST(Runtime, OneMillionParkedAtOnceThenReleased) {
  const int n = million();
  auto release = goro::make_chan<void>();
  latch parked(n), finished(n);
  goro::run([&] {
    for (int i = 0; i < n; ++i) {
      goro::go([&, release]() mutable {
        parked.count_down();
        EXPECT_FALSE(release.recv());  // closed
        finished.count_down();
      });
    }
  });
  ASSERT_TRUE(parked.wait());
  goro_test::settle();
  // Stacks are carved from shared chunks and only the guard budget's worth
  // (a quarter of vm.max_map_count, 65530 by default) get guard pages, two
  // more mappings each, so the count stays near half of vm.max_map_count
  // whatever the number of goroutines. 15,000 is room for the test program's
  // own mappings. (A machine with a larger limit gets more guarded stacks: on
  // a lent 16-core box, whose limit let all million be guarded, this test
  // counted 2,000,093 mappings.)
  EXPECT_LT(count_mappings(),
            static_cast<long>(2 * goro::detail::stack_guard_budget()) + 15'000);
  EXPECT_GE(goro::num_goroutine(), static_cast<std::size_t>(n));
  EXPECT_EQ(finished.left.load(), n);  // nobody got past recv before close
  release.close();
  ASSERT_TRUE(finished.wait());
  EXPECT_TRUE(goro_test::eventually([] { return goro::num_goroutine() == 0; }));
}

TEST(Runtime, HundredThousandGoroutinesYieldHundredTimes) {
  // A TSan fiber switch costs ~0.2 ms: 500 goroutines there.
  const int n = tsan() ? 500 : scaled(100'000);
  std::atomic<long> yields{0};
  latch done(n);
  goro::run([&] {
    for (int i = 0; i < n; ++i) {
      goro::go([&] {
        for (int k = 0; k < 100; ++k) {
          goro::yield();
          yields.fetch_add(1, std::memory_order_relaxed);
        }
        done.count_down();
      });
    }
  });
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(yields.load(), 100L * n);
}

// Two goroutines yielding to each other on one P mostly swap through the
// yield slot (a switch that leaves its runtime section before the jump), and
// every 61st tick through schedule; each may resume the other's kind of
// switch. Each must come back to user code outside any runtime section (or
// sysmon could never take a stuck P, and nested sections would skip the
// ownership check) with its own errno and exception state.
TEST(Runtime, YieldSwapKeepsSectionAndThreadState) {
  const int old = goro::set_max_procs(1);
  const int rounds = tsan() ? 500 : scaled(20'000);
  std::atomic<int> bad_depth{0}, bad_errno{0}, bad_exception{0};
  goro::run([&] {
    goro::wait_group wg;
    wg.add(2);
    goro::go([&] {  // inside a catch block throughout
      try {
        throw std::runtime_error("mine");
      } catch (const std::runtime_error&) {
        for (int i = 0; i < rounds; ++i) {
          write_errno(7);
          goro::yield();
          if (goro::detail::runtime_depth() != 0) bad_depth++;
          if (read_errno() != 7) bad_errno++;
          if (std::current_exception() == nullptr) bad_exception++;
        }
      }
      wg.done();
    });
    goro::go([&] {  // never inside one
      for (int i = 0; i < rounds; ++i) {
        write_errno(9);
        goro::yield();
        if (goro::detail::runtime_depth() != 0) bad_depth++;
        if (read_errno() != 9) bad_errno++;
        if (std::current_exception() != nullptr) bad_exception++;
      }
      wg.done();
    });
    wg.wait();
  });
  goro::set_max_procs(old);
  EXPECT_EQ(bad_depth.load(), 0);
  EXPECT_EQ(bad_errno.load(), 0);
  EXPECT_EQ(bad_exception.load(), 0);
}

// A yield swaps with the yield slot only when nothing else is queued on the
// P: goroutines spawned (runnext, and the ring behind it) by one of a pair
// of yielders run before that yield returns, as they would in Go.
TEST(Runtime, YieldRunsQueuedGoroutinesBeforeSwapping) {
  const int old = goro::set_max_procs(1);
  const int rounds = scaled(200);
  int late = 0;
  goro::run([&] {
    std::atomic<bool> stop{false};
    goro::wait_group wg;
    wg.add(1);
    goro::go([&] {  // the yield partner: keeps the slot full
      while (!stop.load()) goro::yield();
      wg.done();
    });
    goro::yield();  // the partner is in the slot from here on
    for (int r = 0; r < rounds; ++r) {
      for (int k = 0; k < 4; ++k) goro::yield();  // some swaps first
      std::atomic<int> ran{0};
      for (int k = 0; k < 3; ++k) goro::go([&] { ran.fetch_add(1); });
      goro::yield();
      if (ran.load() != 3) ++late;
      while (ran.load() != 3) goro::yield();  // they use our frame
    }
    stop = true;
    wg.wait();
  });
  goro::set_max_procs(old);
  EXPECT_EQ(late, 0) << "a yield swapped with the slot while goroutines were queued";
}

TEST(Runtime, SpawnFromEightPlainThreads) {
  const int per_thread = scaled(20'000);
  std::atomic<int> ran{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < per_thread; ++i) goro::go([&] { ran.fetch_add(1); });
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(goro_test::eventually([&] { return ran.load() == 8 * per_thread; }));
}

TEST(Runtime, SetMaxProcsWhileWorkRuns) {
  const int original = goro::max_procs();
  std::atomic<bool> stop{false};
  std::atomic<long> work{0};
  latch done(16);
  for (int i = 0; i < 16; ++i) {
    goro::go([&] {
      while (!stop.load()) {
        work.fetch_add(1);
        goro::yield();
      }
      done.count_down();
    });
  }
  for (int round = 0; round < scaled(50); ++round) {
    int n = 1 + round % 5;
    goro::set_max_procs(n);
    EXPECT_EQ(goro::max_procs(), n);
    long before = work.load();
    ASSERT_TRUE(goro_test::eventually([&] { return work.load() > before + 100; }))
        << "no progress at GOMAXPROCS=" << n;
  }
  stop = true;
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(goro::set_max_procs(original), 1 + (scaled(50) - 1) % 5);
  EXPECT_EQ(goro::set_max_procs(0), original);  // < 1 only queries
}

TEST(Runtime, RunQueueOverflowSpillsToGlobalQueue) {
  int old = goro::set_max_procs(1);  // no thief to drain the local queue meanwhile
  auto before = goro::detail::sched_statistics();
  std::atomic<int> ran{0};
  goro::run([&] {
    // 1000 spawns without a scheduling point overflow the 256-slot local queue.
    for (int i = 0; i < 1000; ++i) goro::go([&] { ran.fetch_add(1); });
    while (ran.load() < 1000) goro::yield();
  });
  EXPECT_GT(goro::detail::sched_statistics().spills, before.spills);
  goro::set_max_procs(old);
}

TEST(Runtime, IdlePStealsFromBusyOne) {
  goro::set_max_procs(2);
  auto before = goro::detail::sched_statistics();
  // A steal needs the kernel to run the second M while the first is busy;
  // on a loaded machine one attempt may not see that, so retry (bounded).
  for (int attempt = 0; attempt < 20 && goro::detail::sched_statistics().steals == before.steals;
       ++attempt) {
    std::atomic<int> ran{0};
    goro::run([&] {
      // 100 CPU-bound goroutines fit in this P's local queue; the other P can
      // only get work by stealing it.
      for (int i = 0; i < 100; ++i) {
        goro::go([&] {
          volatile long x = 0;
          for (int k = 0; k < 200000; ++k) x = x + k;
          ran.fetch_add(1);
        });
      }
      while (ran.load() < 100) goro::yield();
    });
  }
  EXPECT_GT(goro::detail::sched_statistics().steals, before.steals);
}

// Two goroutines handing off through runnext (a channel ping-pong) keep the
// P's runnext full at every switch; on one P the goroutines queued behind
// them must still run (once starved for as long as the pair ran).
TEST(Runtime, RunnextPingPongDoesNotStarveTheQueue) {
  const int old = goro::set_max_procs(1);
  std::atomic<bool> ran{false};
  bool pair_saw_it = goro::run([&] {
    auto a = goro::make_chan<int>(), b = goro::make_chan<int>();
    goro::wait_group wg;
    wg.add(2);
    bool saw = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    goro::go([&, a, b]() mutable {
      while (!(saw = ran.load()) && std::chrono::steady_clock::now() < deadline) {
        a.send(1);
        b.recv();
      }
      a.close();
      wg.done();
    });
    goro::go([&, a, b]() mutable {
      while (a.recv()) b.send(1);
      wg.done();
    });
    goro::go([&] {
      goro::yield();  // to the back of the queue, behind the pair
      ran = true;
    });
    wg.wait();
    return saw;
  });
  goro::set_max_procs(old);
  EXPECT_TRUE(pair_saw_it) << "a queued goroutine waited until the ping-pong pair gave up";
}

// Computes, with no scheduling point, until flag is set; false if it was not
// within 20 s. The goroutine calling it hogs its P.
static bool hog_until(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!flag.load())
    if (std::chrono::steady_clock::now() > deadline) return false;
  return true;
}

// A goroutine that yields while its P's other goroutine computes without
// scheduling points (the yield slot is invisible to thieves) still runs:
// sysmon hands its P to another M.
TEST(Runtime, YieldedGoroutineRunsWhileSiblingHogsItsP) {
  const int old = goro::set_max_procs(2);
  for (int round = 0; round < scaled(20); ++round) {
    std::atomic<bool> ran{false}, gave_up{false};
    goro::run([&] {
      goro::wait_group wg;
      wg.add(2);
      goro::go([&] {
        goro::yield();
        goro::yield();
        ran = true;
        wg.done();
      });
      goro::go([&] {
        gave_up = !hog_until(ran);
        wg.done();
      });
      wg.wait();
    });
    ASSERT_FALSE(gave_up.load()) << "round " << round << ": the yielder never ran";
  }
  goro::set_max_procs(old);
}

// A goroutine readied into runnext by a P that then computes without a
// scheduling point is taken by an idle P's M (a thief takes runnext once the
// owner has not scheduled for the runnext grace), not left for sysmon's 10 ms
// hand-off of the whole P.
TEST(Runtime, RunnextOfAHoggingPIsStolen) {
  const int old = goro::set_max_procs(2);
  int stolen = 0, attempts = 0;
  for (; attempts < 10 && stolen == 0; ++attempts) {
    const auto handoffs = goro::detail::sched_statistics().running_handoffs;
    std::atomic<bool> ran{false}, gave_up{false};
    goro::run([&] {
      auto c = goro::make_chan<int>();
      goro::wait_group wg;
      wg.add(2);
      goro::go([&, c]() mutable {
        (void)c.recv();
        ran = true;
        wg.done();
      });
      goro::go([&, c]() mutable {
        // Succeeds once the receiver is parked on c, and readies it into this
        // P's runnext; meanwhile the other P has gone idle.
        while (!c.try_send(1)) goro::sleep(std::chrono::milliseconds(1));
        gave_up = !hog_until(ran);
        wg.done();
      });
      wg.wait();
    });
    ASSERT_FALSE(gave_up.load()) << "the readied goroutine never ran";
    if (goro::detail::sched_statistics().running_handoffs == handoffs) ++stolen;
  }
  goro::set_max_procs(old);
  EXPECT_GT(stolen, 0) << "in " << attempts
                       << " attempts the readied goroutine ran only after sysmon's hand-off";
}

// A burst of wake-ups (here a close; in practice timers firing) must run
// ahead of a backlog of goroutines that never ran: each woken one holds a
// stack until it finishes, each new one needs one. (100k goroutines sleeping
// 10 ms once all held a stack at the same time: 400 MiB.)
TEST(Runtime, WokenGoroutinesRunAheadOfASpawnBacklog) {
  const int old = goro::set_max_procs(1);  // no thief reorders anything
  const int woken = 100, backlog = 1000;
  int backlog_before = -1;
  // An attempt counts only if sysmon handed no P off meanwhile: a spawn loop
  // that takes 10 ms (a sanitizer build) gets its P taken, and the backlog
  // then starts running before the close.
  for (int attempt = 0; attempt < 10 && backlog_before < 0; ++attempt) {
    const auto handoffs = goro::detail::sched_statistics().running_handoffs;
    int order = 0, last_woken_at = -1;
    std::vector<int> backlog_at;
    goro::run([&] {
      auto c = goro::make_chan<int>();
      goro::wait_group parked, done;
      parked.add(woken);
      done.add(woken + backlog);
      for (int i = 0; i < woken; ++i)
        goro::go([&, c]() mutable {
          parked.done();
          (void)c.recv();
          last_woken_at = order++;
          done.done();
        });
      parked.wait();
      goro::yield();  // let the last ones get from done() to parked
      for (int i = 0; i < backlog; ++i)
        goro::go([&] {
          backlog_at.push_back(order++);
          done.done();
        });
      c.close();  // 100 woken while 1000 wait in the run queues
      done.wait();
    });
    if (goro::detail::sched_statistics().running_handoffs != handoffs) continue;
    backlog_before = 0;
    for (int at : backlog_at) backlog_before += at < last_woken_at;
  }
  goro::set_max_procs(old);
  if (backlog_before < 0) GTEST_SKIP() << "sysmon handed the P off in every attempt";
  // Ahead of them at most the local run queue (256) and runnext.
  EXPECT_LT(backlog_before, 400) << "woken goroutines ran behind " << backlog_before
                                 << " never-started ones";
}

TEST(Runtime, IdleRuntimeUsesNoCpu) {
  goro::run([] {
    std::atomic<int> n{0};
    for (int i = 0; i < 1000; ++i) goro::go([&] { n++; });
    while (n.load() < 1000) goro::yield();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // spinners give up
  // An earlier test left a million warm stacks; an idle M returns them to the
  // OS within a few seconds (legitimate upkeep: unmapping 4 GiB of pages costs
  // kernel time). Measure once that is done.
  goro_test::eventually([] { return goro::detail::stack_statistics().warm <= 1024; },
                        std::chrono::seconds(30));
  auto us = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1'000'000L + r.ru_utime.tv_usec +
           r.ru_stime.tv_usec;
  };
  // Background upkeep (returning an earlier test's million stacks to the OS)
  // may take one window; an idle runtime must have a quiet one.
  long quietest = LONG_MAX;
  for (int i = 0; i < 4; ++i) {
    rusage a{}, b{};
    getrusage(RUSAGE_SELF, &a);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    getrusage(RUSAGE_SELF, &b);
    quietest = std::min(quietest, us(b) - us(a));
  }
  if (quietest >= 30'000) {
    // Which thread burns it: the runtime names its threads goro-M<n>/goro-sysmon.
    auto per_thread = [] {
      std::map<std::string, long> cpu;
      for (auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(e.path() / "comm"), stat(e.path() / "stat");
        std::string name, line;
        std::getline(comm, name);
        std::getline(stat, line);
        std::istringstream in(line.substr(line.rfind(')') + 2));
        std::string field;
        long ut = 0, st = 0;
        for (int i = 3; i <= 15 && in >> field; ++i) {
          if (i == 14) ut = std::stol(field);
          if (i == 15) st = std::stol(field);
        }
        cpu[name + "/" + e.path().filename().string()] = ut + st;
      }
      return cpu;
    };
    auto a = per_thread();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto b = per_thread();
    std::string who;
    for (auto& [k, v] : b) who += k + ":" + std::to_string(v - a[k]) + " ";
    auto st = goro::detail::sched_statistics();
    ADD_FAILURE() << "the idle runtime burned " << quietest << " us per 300 ms; ticks per thread: "
                  << who << "; idle Ps " << st.idle_procs << ", spinning " << st.spinning
                  << ", idle Ms " << st.idle_threads << "/" << st.threads;
  }
}

// PITFALLS.md: exception state is per thread. Goroutines park inside a catch
// block while others throw and catch on the same threads; they are woken by a
// plain thread (so they resume on whichever M takes them from the global
// queue) and must find their own exception state intact.
TEST(Runtime, ExceptionStateFollowsGoroutineAcrossThreads) {
  goro::set_max_procs(2);
  const int n = 20, min_rounds = scaled(50);
  std::atomic<int> ok{0}, migrated{0};
  std::vector<goro::chan<int>> wake;
  for (int i = 0; i < n; ++i) wake.push_back(goro::make_chan<int>());
  latch done(2 * n);
  std::atomic<bool> stop_throwers{false};
  for (int i = 0; i < n; ++i) {
    goro::go([&, c = wake[i]]() mutable {
      try {
        throw std::runtime_error("mine");
      } catch (const std::runtime_error& e) {
        for (;;) {
          auto tid = current_thread();
          if (!c.recv()) break;  // park in the catch block
          if (!pthread_equal(tid, current_thread())) migrated++;
          ASSERT_STREQ(e.what(), "mine");
          ASSERT_TRUE(std::current_exception() != nullptr);
        }
        try {
          throw;  // rethrows the exception being handled: needs our state
        } catch (const std::runtime_error& again) {
          if (std::string(again.what()) == "mine") ok++;
        }
      }
      EXPECT_EQ(std::uncaught_exceptions(), 0);
      EXPECT_TRUE(std::current_exception() == nullptr);
      done.count_down();
    });
    goro::go([&] {
      while (!stop_throwers) {
        try {
          throw std::logic_error("other");
        } catch (const std::logic_error&) {
          goro::yield();
        }
      }
      done.count_down();
    });
  }
  wake_until_migrated(wake, min_rounds, migrated);
  stop_throwers = true;
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(ok.load(), n);
  EXPECT_GT(migrated.load(), 0) << "no goroutine resumed on another thread";
}

TEST(Runtime, UncaughtExceptionsCountFollowsGoroutine) {
  struct parks_in_destructor {
    int* seen;
    ~parks_in_destructor() {
      for (int k = 0; k < 10; ++k) goro::yield();
      *seen = std::uncaught_exceptions();
    }
  };
  int seen = -1;
  goro::run([&] {
    std::atomic<bool> stop{false};
    goro::go([&] {
      while (!stop) {
        EXPECT_EQ(std::uncaught_exceptions(), 0);
        goro::yield();
      }
    });
    try {
      parks_in_destructor p{&seen};
      throw std::runtime_error("unwinding");
    } catch (const std::runtime_error&) {
    }
    stop = true;
  });
  EXPECT_EQ(seen, 1);
}

TEST(Runtime, ErrnoPreservedAcrossPark) {
  goro::set_max_procs(2);
  const int n = 20, min_rounds = scaled(50);
  std::atomic<int> bad{0}, migrated{0};
  std::vector<goro::chan<int>> wake;
  for (int i = 0; i < n; ++i) wake.push_back(goro::make_chan<int>());
  latch done(n);
  // Keep both Ms busy so woken goroutines resume on either of them.
  std::atomic<bool> stop{false};
  latch stopped(2);
  for (int k = 0; k < 2; ++k)
    goro::go([&] {
      while (!stop) goro::yield();
      stopped.count_down();
    });
  for (int i = 0; i < n; ++i) {
    goro::go([&, i, c = wake[i]]() mutable {
      for (;;) {
        write_errno(1000 + i);
        auto tid = current_thread();
        if (!c.recv()) break;  // woken by a plain thread: resumes on any M
        if (!pthread_equal(tid, current_thread())) migrated++;
        if (read_errno() != 1000 + i) bad++;
        write_errno(-1);  // what other goroutines on this thread must not see
        goro::yield();
      }
      done.count_down();
    });
  }
  wake_until_migrated(wake, min_rounds, migrated);
  ASSERT_TRUE(done.wait());
  stop = true;
  ASSERT_TRUE(stopped.wait());
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(migrated.load(), 0) << "no goroutine resumed on another thread";
}

TEST(Runtime, DeepStackWithinConfiguredSize) {
  std::size_t old = goro::stack_size();
  goro::set_stack_size(1 << 20);
  EXPECT_GE(goro::stack_size(), std::size_t{1} << 20);
  long result = goro::run([] {
    auto out = goro::make_chan<long>(1);
    goro::go([out]() mutable {
      volatile char big[600 * 1024];
      for (std::size_t i = 0; i < sizeof big; i += 4096) big[i] = 1;
      out.send(big[4096] + 41);
    });
    return *out.recv();
  });
  EXPECT_EQ(result, 42);
  goro::set_stack_size(old);
}

using RuntimeDeathTest = ::testing::Test;

TEST(RuntimeDeathTest, ExceptionEscapingGoroutineIsAPanic) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(goro::run([] {
                 goro::go([] { throw std::runtime_error("boom from a goroutine"); });
                 goro::block_forever();
               }),
               "panic: boom from a goroutine(.|\n)*goroutine [0-9]+ \\[running\\]");
}

[[gnu::noinline]] int recurse(int n) {
  volatile char pad[512];
  pad[0] = static_cast<char>(n);
  return n == 0 ? 0 : recurse(n - 1) + pad[0];
}

TEST(RuntimeDeathTest, StackOverflowIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(goro::run([] {
                 goro::go([] { std::printf("%d\n", recurse(1 << 30)); });
                 goro::block_forever();
               }),
               "goroutine [0-9]+: stack overflow");
}

// Returning from main while goroutines are parked or running ends the process
// cleanly, as in Go: no crash or hang in static destructors.
TEST(RuntimeDeathTest, ExitWhileGoroutinesAliveIsClean) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        goro::run([] {
          for (int i = 0; i < 100; ++i) goro::go([] { goro::block_forever(); });
          auto c = goro::make_chan<int>();
          for (int i = 0; i < 100; ++i) goro::go([c]() mutable { c.recv(); });
          for (int i = 0; i < 4; ++i)
            goro::go([] {
              for (;;) goro::yield();
            });
        });
        std::exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(RuntimeDeathTest, DeadlockIsReported) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(goro::run([] {
                 auto c = goro::make_chan<int>();
                 goro::go([c]() mutable { c.recv(); });
                 c.recv();  // nobody will ever send
               }),
               "fatal error: all goroutines are asleep - deadlock!(.|\n)*goroutine [0-9]+ "
               "\\[chan receive\\]");
}

TEST(Runtime, DumpShowsParkedGoroutines) {
  goro::run([] {
    auto c = goro::make_chan<int>();
    auto parked = goro::make_chan<void>();
    goro::go([c, parked]() mutable {
      parked.close();
      c.recv();
    });
    parked.recv();
    goro::sleep(std::chrono::milliseconds(5));
    std::ostringstream out;
    goro::dump_goroutines(out);
    std::string d = out.str();
    EXPECT_NE(d.find("[running]"), std::string::npos) << d;  // the caller
    EXPECT_NE(d.find("[chan receive]"), std::string::npos) << d;
    EXPECT_NE(d.find("created by"), std::string::npos) << d;
    if (!goro_test::sanitizer_build()) EXPECT_NE(d.find("chan_recv"), std::string::npos) << d;
    c.send(1);  // the dumped goroutine still resumes correctly
  });
}

TEST(Runtime, LeakCheckFindsOnlyNewLeaks) {
  auto before = goro::testing::current_goroutines();
  auto c = goro::make_chan<int>();
  goro::go([c]() mutable { c.recv(); });  // leaked until we send
  std::string report = goro::testing::find_leaks(before, std::chrono::milliseconds(50));
  EXPECT_NE(report.find("chan receive"), std::string::npos) << report;
  EXPECT_THROW(goro::testing::verify_no_leaks(before, std::chrono::milliseconds(10)),
               goro::testing::leak_error);
  c.send(1);
  EXPECT_NO_THROW(goro::testing::verify_no_leaks(before));
}
