// Timers: sleep, after, tick, timer, ticker, after_func (Go's sleep_test.go
// and tick_test.go behaviour, with Go 1.23 stop/reset semantics).
#include <gtest/gtest.h>

#include <atomic>
#include <goro/goro.hpp>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <mutex>
#include <thread>

#include "test_util.hpp"

using namespace std::chrono_literals;
using goro_test::scaled;

namespace {
goro::clock::duration since(goro::clock::time_point t) { return goro::clock::now() - t; }
}  // namespace

TEST(Time, SleepParksForAtLeastTheDuration) {
  goro::run([] {
    auto t0 = goro::clock::now();
    goro::sleep(20ms);
    EXPECT_GE(since(t0), 20ms);
    goro::sleep(0ms);   // returns at once
    goro::sleep(-5ms);  // likewise
  });
  auto t0 = goro::clock::now();
  goro::sleep(10ms);  // plain thread
  EXPECT_GE(since(t0), 10ms);
}

TEST(Time, SleepingGoroutineDoesNotBlockItsThread) {
  goro::set_max_procs(1);
  std::atomic<int> progress{0};
  goro::run([&] {
    goro::wait_group wg;
    wg.go([] { goro::sleep(100ms); });
    wg.go([&] {
      for (int i = 0; i < 1000; ++i) {
        progress++;
        goro::yield();
      }
    });
    wg.wait();
  });
  EXPECT_EQ(progress.load(), 1000);
  goro::set_max_procs(2);
}

TEST(Time, ManySleepersAllWake) {
  const int n = goro_test::max_live(scaled(100'000));
  std::atomic<int> woke{0};
  goro::run([&] {
    goro::wait_group wg;
    for (int i = 0; i < n; ++i) {
      wg.go([&, i] {
        goro::sleep(std::chrono::microseconds(i % 1000));
        woke++;
      });
    }
    wg.wait();
  });
  EXPECT_EQ(woke.load(), n);
}

// Regression: short sleeps while Ms keep going idle and waking. A timer
// runner used to reset the earliest-deadline hint while another M, going
// idle, read it twice: that M became the timer sleeper with no deadline and
// slept for good while a sleep was pending (the hang took ~1 min of this loop
// to hit before the fix). Rounds run for ~1.5 s; a lost wake-up shows up as
// a round that never ends, so each round is checked against a generous bound.
TEST(Time, ShortSleepsWhileMsGoIdleAllWake) {
  const auto budget = goro_test::sanitizer_build() ? 3s : 1500ms;
  const auto t0 = goro::clock::now();
  int rounds = 0;
  std::atomic<long> progress{0};
  std::atomic<bool> done{false};
  std::thread guard([&] {  // a stuck round aborts with a dump instead of hanging ctest
    long last = -1;
    for (int idle = 0; !done.load();) {
      std::this_thread::sleep_for(100ms);
      long p = progress.load();
      idle = p == last ? idle + 1 : 0;
      last = p;
      if (idle == 200) {
        std::fprintf(stderr, "no sleep woke for 20 s: lost wake-up\n");
        goro::dump_goroutines(std::cerr);
        std::abort();
      }
    }
  });
  while (since(t0) < budget) {
    goro::run([&] {
      goro::mutex mu;  // one token, passed FIFO through per-waiter channels
      bool token_free = true;
      std::deque<goro::chan<void>> waiters;
      goro::wait_group wg;
      for (int w = 0; w < 4; ++w)
        wg.go([&, w] {
          unsigned r = 7919u * (w + 1) + rounds;
          for (int k = 0; k < 100; ++k) {
            std::unique_lock lk(mu);
            if (token_free && waiters.empty()) {
              token_free = false;
              lk.unlock();
            } else {
              auto c = goro::make_chan<void>();
              waiters.push_back(c);
              lk.unlock();
              c.recv();
            }
            r = r * 1103515245u + 12345u;
            goro::sleep(std::chrono::microseconds((r >> 16) % 50));
            progress++;
            lk.lock();
            if (waiters.empty()) {
              token_free = true;
            } else {
              waiters.front().close();
              waiters.pop_front();
            }
          }
        });
      wg.wait();
    });
    ++rounds;
  }
  done = true;
  guard.join();
  EXPECT_EQ(progress.load(), 400L * rounds);
}

// Regression: a timer armed while another M was the timer sleeper with a
// later deadline. A runner resets the earliest-deadline hint while it scans;
// an arm racing the scan can lower it to a *later* timer, and an M going idle
// then registered as the sleeper until that later deadline; the runner, back
// in stopm, deferred to it, so the earlier timer fired only when the later one
// did. Found by the tour's steward/ward section (a 450 ms after_func fired at
// 600 ms, about 1 run in 6). The same shape: a steward re-arming a timeout
// every `period`, restarting a ward (goroutines, an or-channel) each time, and
// an after_func due between two timeouts. Only gross lateness (more than half
// a period, as the bug produces) fails.
TEST(Time, TimerArmedDuringARunIsNotDeferredToALaterSleeper) {
  const auto timeout = 200ms;
  const auto due = 2 * timeout + timeout / 4;
  const int rounds = goro_test::sanitizer_build() ? 4 : 12;
  for (int r = 0; r < rounds; ++r) {
    goro::clock::duration late{};
    goro::run([&] {
      auto t0 = goro::clock::now();
      auto done = goro::make_chan<void>();
      auto halt = goro::after_func(due, [&late, done, t0, due]() mutable {
        late = goro::clock::now() - t0 - due;
        done.close();
      });
      // The seed's steward over an irresponsible ward (tour section 77).
      auto heartbeat = goro::make_chan<void>();
      goro::go([done, heartbeat, timeout]() mutable {
        goro::chan<void> ward_done;
        auto start_ward = [&] {
          ward_done = goro::make_chan<void>();
          goro::recv_chan<void> ward_stop = goro::or_channel({ward_done, done});
          goro::go([ward_stop]() mutable { ward_stop.recv(); });  // never pulses
        };
        start_ward();
        auto pulse = goro::tick(timeout);
        for (bool stop = false; !stop;) {
          auto timeout_signal = goro::after(timeout);
          for (bool again = false; !again && !stop;) {
            goro::select(
                goro::recv(pulse, [&] { goro::select(goro::send(heartbeat), goro::default_case()); }),
                goro::recv(timeout_signal,
                           [&] {
                             ward_done.close();
                             start_ward();
                             again = true;
                           }),
                goro::recv(done, [&] { stop = true; }));
          }
        }
        heartbeat.close();
      });
      while (heartbeat.recv()) {
      }
    });
    EXPECT_LT(late, timeout / 2) << "round " << r << ": the after_func fired "
                                 << std::chrono::duration_cast<std::chrono::milliseconds>(late).count()
                                 << " ms late";
  }
}

TEST(Time, AfterDeliversOnceAfterTheDuration) {
  goro::run([] {
    auto t0 = goro::clock::now();
    auto c = goro::after(20ms);
    auto v = c.recv();
    ASSERT_TRUE(v.has_value());
    EXPECT_GE(*v - t0, 20ms);
    EXPECT_GE(since(t0), 20ms);
    EXPECT_FALSE(c.try_recv().has_value());  // exactly one value
  });
  // From a plain thread, with no goroutine running.
  auto t0 = goro::clock::now();
  EXPECT_TRUE(goro::after(15ms).recv().has_value());
  EXPECT_GE(since(t0), 15ms);
}

// Go: TestAfterStress — after() used concurrently from many goroutines.
TEST(Time, AfterStress) {
  std::atomic<int> got{0};
  goro::run([&] {
    goro::wait_group wg;
    for (int g = 0; g < 10; ++g) {
      wg.go([&] {
        for (int i = 0; i < scaled(100); ++i) {
          goro::after(std::chrono::microseconds(10 + i % 50)).recv();
          got++;
        }
      });
    }
    wg.wait();
  });
  EXPECT_EQ(got.load(), 10 * scaled(100));
}

TEST(Time, AfterInSelectAsTimeout) {
  goro::run([] {
    auto never = goro::make_chan<int>();
    bool timed_out = false;
    goro::select(goro::recv(never), goro::recv(goro::after(10ms), [&] { timed_out = true; }));
    EXPECT_TRUE(timed_out);
  });
}

// Go: TestTimerStopStress — timers stopped before they fire never fire.
TEST(Time, TimerStopStress) {
  std::atomic<int> fired{0};
  goro::run([&] {
    std::vector<goro::timer> timers;
    for (int i = 0; i < scaled(1000); ++i) {
      timers.push_back(goro::after_func(200ms + std::chrono::milliseconds(i % 100), [&] { fired++; }));
    }
    for (auto& t : timers) EXPECT_TRUE(t.stop());
    for (auto& t : timers) EXPECT_FALSE(t.stop());  // already stopped
    goro::sleep(400ms);
  });
  EXPECT_EQ(fired.load(), 0);
}

TEST(Time, TimerStopAfterFireReturnsFalse) {
  goro::run([] {
    goro::timer t(5ms);
    t.c().recv();
    EXPECT_FALSE(t.stop());
  });
}

// Go 1.23: after stop() or reset() returns, no stale value can be received.
TEST(Time, NoStaleValueAfterStopOrReset) {
  goro::run([] {
    for (int i = 0; i < scaled(50); ++i) {
      goro::timer t(1ms);
      goro::sleep(3ms);  // it has fired: the value waits in the channel
      EXPECT_FALSE(t.stop());
      EXPECT_FALSE(t.c().try_recv().has_value()) << "stale value after stop";
    }
    for (int i = 0; i < scaled(50); ++i) {
      goro::timer t(1ms);
      goro::sleep(3ms);
      auto before_reset = goro::clock::now();
      EXPECT_FALSE(t.reset(20ms));
      auto v = t.c().recv();  // must be the new firing, not the stale one
      ASSERT_TRUE(v);
      EXPECT_GE(*v, before_reset + 20ms);
    }
  });
}

// Go: TestReset — reset re-arms; its result says whether the timer was active.
TEST(Time, ResetReportsWhetherActive) {
  goro::run([] {
    goro::timer t(1h);
    // t0 before reset: the timer is due 10 ms after reset reads the clock,
    // which a slow (sanitizer) run may take a while to return from.
    auto t0 = goro::clock::now();
    EXPECT_TRUE(t.reset(10ms));
    EXPECT_TRUE(t.c().recv());
    EXPECT_GE(since(t0), 10ms);
    EXPECT_FALSE(t.reset(10ms));  // had fired
    EXPECT_TRUE(t.c().recv());
  });
}

// reset to a later deadline leaves the heap entry where it is (Go's
// timerModifiedLater); when the old deadline passes, the runtime must push the
// timer again rather than fire it. An earlier deadline after that must still
// be honoured, for timers and for tickers.
TEST(Time, ResetToLaterDoesNotFireAtTheOldDeadline) {
  goro::run([] {
    // Deadlines far apart, so that a slow (sanitizer, loaded) run cannot make
    // the first one pass before the reset, or the sleep outlast the second.
    goro::timer t(200ms);
    auto t0 = goro::clock::now();
    EXPECT_TRUE(t.reset(1s));  // later: the 200 ms entry stays in its heap
    goro::sleep(400ms);        // ...and comes due meanwhile
    EXPECT_FALSE(t.c().try_recv()) << "fired at the deadline it was reset away from";
    EXPECT_TRUE(t.c().recv());
    EXPECT_GE(since(t0), 1s);
    EXPECT_FALSE(t.stop());  // fired once, and only once
    EXPECT_FALSE(t.c().try_recv());

    goro::timer u(500ms);
    EXPECT_TRUE(u.reset(1h));   // lazily later...
    t0 = goro::clock::now();
    EXPECT_TRUE(u.reset(20ms)); // ...then earlier than its entry: moved now
    auto r = goro::select(goro::recv(u.c()), goro::recv(goro::after(10s)));
    EXPECT_EQ(r, 0u) << "an earlier reset after a later one was lost";
    EXPECT_GE(since(t0), 20ms);

    goro::ticker tk(20ms);
    t0 = goro::clock::now();
    tk.reset(200ms);  // later than the pending 20 ms tick
    EXPECT_TRUE(tk.c().recv());
    EXPECT_GE(since(t0), 200ms);
    tk.stop();
  });
}

TEST(Time, DestroyingATimerStopsIt) {
  std::atomic<int> fired{0};
  goro::run([&] {
    auto hundred = goro::make_chan<void>(1);
    { auto t = goro::after_func(20ms, [&] { fired++; }); }
    goro::timer moved = goro::after_func(20ms, [&] { fired += 10; });
    moved = goro::after_func(20ms, [&, hundred]() mutable {  // stops the +10 one
      fired += 100;
      hundred.send();
    });
    goro::select(goro::recv(hundred), goro::recv(goro::after(10s)));
    goro::sleep(50ms);  // the stopped ones had the same deadline
  });
  EXPECT_EQ(fired.load(), 100);
}

TEST(Time, AfterFuncRunsInItsOwnGoroutine) {
  std::atomic<std::uint64_t> id{0};
  std::uint64_t mine = 0;
  goro::run([&] {
    mine = goro::goroutine_id();
    auto done = goro::make_chan<void>();
    auto t = goro::after_func(5ms, [&, done]() mutable {
      id = goro::goroutine_id();
      done.close();
    });
    done.recv();
  });
  EXPECT_NE(id.load(), 0u);
  EXPECT_NE(id.load(), mine);
}

// Go: TestTicker — ticks arrive about every period.
TEST(Time, TickerTicks) {
  goro::run([] {
    goro::ticker tk(10ms);
    auto t0 = goro::clock::now();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(tk.c().recv());
    EXPECT_GE(since(t0), 45ms);
    tk.stop();
    goro::sleep(30ms);
    EXPECT_FALSE(tk.c().try_recv().has_value()) << "tick after stop";
    tk.reset(5ms);
    EXPECT_TRUE(tk.c().recv());
  });
  EXPECT_THROW(goro::ticker(0ms), goro::panic_error);
}

TEST(Time, SlowReceiverDropsTicks) {
  goro::run([] {
    goro::ticker tk(2ms);
    goro::sleep(30ms);  // ~15 ticks, but the channel holds one
    EXPECT_LE(tk.c().len(), 1u);
    EXPECT_TRUE(tk.c().try_recv().has_value());
    EXPECT_FALSE(tk.c().try_recv().has_value());
  });
}

TEST(Time, TickChannel) {
  goro::run([] {
    auto c = goro::tick(5ms);
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(c.recv());
    EXPECT_FALSE(goro::tick(0ms));  // nil channel, as in Go
  });
}

// Go: TestTeardown — tickers created and stopped in quick succession.
TEST(Time, TickerTeardown) {
  goro::run([] {
    for (int i = 0; i < scaled(200); ++i) {
      goro::ticker tk(std::chrono::microseconds(100 + i));
      tk.c().recv();
      tk.stop();
    }
  });
}

TEST(Time, ManyPendingTimers) {
  const int n = scaled(200'000);
  goro::run([&] {
    std::vector<goro::timer> ts;
    ts.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) ts.emplace_back(1h + std::chrono::seconds(i));
    int stopped = 0;
    for (auto& t : ts) stopped += t.stop();
    EXPECT_EQ(stopped, n);
  });
}
