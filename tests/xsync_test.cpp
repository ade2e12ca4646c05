// golang.org/x/sync ports: semaphore (semaphore_test.go, including
// TestLargeAcquireDoesntStarve) and errgroup (errgroup_test.go), plus the
// C++ additions: exceptions becoming errors, void functions, set_limit misuse.

#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/errgroup.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/semaphore.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using goro_test::scaled;

using goro_test::watchdog;

// ---- semaphore ---------------------------------------------------------------

void hammer_weighted(goro::semaphore& sem, std::int64_t n, int loops) {
  // Per goroutine, not thread_local: a goroutine may resume on another thread.
  std::minstd_rand rng(static_cast<unsigned>(n) * 7919u + 1u);
  for (int i = 0; i < loops; ++i) {
    EXPECT_FALSE(sem.acquire(goro::background(), n));
    goro::sleep(std::chrono::microseconds(rng() % 1000));
    sem.release(n);
  }
}

TEST(Semaphore, Weighted) {
  watchdog w;
  goro::run([] {
    const int n = goro::max_procs() < 4 ? 4 : goro::max_procs();
    const int loops = scaled(10000) / n;
    goro::semaphore sem(n);
    goro::wait_group wg;
    for (int i = 0; i < n; ++i) wg.go([&, i] { hammer_weighted(sem, i, loops); });
    wg.wait();
    EXPECT_TRUE(sem.try_acquire(n));  // all released
  });
}

TEST(Semaphore, WeightedPanic) {
  goro::semaphore w(1);
  EXPECT_THROW(w.release(1), goro::panic_error);
  // The count is left as it was.
  EXPECT_TRUE(w.try_acquire(1));
  EXPECT_FALSE(w.try_acquire(1));
  w.release(1);
}

TEST(Semaphore, WeightedTryAcquire) {
  goro::context ctx = goro::background();
  goro::semaphore sem(2);
  std::vector<bool> tries;
  EXPECT_FALSE(sem.acquire(ctx, 1));
  tries.push_back(sem.try_acquire(1));
  tries.push_back(sem.try_acquire(1));
  sem.release(2);
  tries.push_back(sem.try_acquire(1));
  EXPECT_FALSE(sem.acquire(ctx, 1));
  tries.push_back(sem.try_acquire(1));
  EXPECT_EQ(tries, (std::vector<bool>{true, false, true, false}));
}

TEST(Semaphore, WeightedAcquire) {
  watchdog w;
  goro::run([] {
    goro::context ctx = goro::background();
    goro::semaphore sem(2);
    auto try_acquire = [&](std::int64_t n) {
      auto [c, cancel] = goro::with_timeout(ctx, 10ms);
      bool ok = !sem.acquire(c, n);
      cancel();
      return ok;
    };
    std::vector<bool> tries;
    EXPECT_FALSE(sem.acquire(ctx, 1));
    tries.push_back(try_acquire(1));
    tries.push_back(try_acquire(1));
    sem.release(2);
    tries.push_back(try_acquire(1));
    EXPECT_FALSE(sem.acquire(ctx, 1));
    tries.push_back(try_acquire(1));
    EXPECT_EQ(tries, (std::vector<bool>{true, false, true, false}));
  });
}

TEST(Semaphore, AcquireReturnsCtxErrAndTakesNothing) {
  watchdog w;
  goro::run([] {
    goro::semaphore sem(3);
    EXPECT_FALSE(sem.acquire(goro::background(), 3));
    // The deadline counts from with_timeout: time from before it (an ASan run
    // once spent 0.7 ms between with_timeout and a later clock read).
    auto start = goro::clock::now();
    auto [c, cancel] = goro::with_timeout(goro::background(), 20ms);
    goro::error err = sem.acquire(c, 2);
    EXPECT_TRUE(err == goro::deadline_exceeded) << err;
    EXPECT_GE(goro::clock::now() - start, 20ms);
    auto [c2, cancel2] = goro::with_cancel(goro::background());
    goro::go([cancel2 = cancel2] {
      goro::sleep(5ms);
      cancel2();
    });
    EXPECT_TRUE(sem.acquire(c2, 1) == goro::canceled);
    sem.release(3);
    EXPECT_TRUE(sem.try_acquire(3));  // nothing was left taken
    sem.release(3);
    cancel();
  });
}

TEST(Semaphore, WeightedDoesntBlockIfTooBig) {
  watchdog w;
  goro::run([] {
    const std::int64_t n = 2;
    goro::semaphore sem(n);
    auto [big_ctx, cancel_big] = goro::with_cancel(goro::background());
    goro::wait_group big;
    big.go([&, c = big_ctx] { EXPECT_TRUE(sem.acquire(c, n + 1) == goro::canceled); });
    auto [g, ctx] = goro::errgroup::with_context(goro::background());
    for (int i = n * 3; i > 0; --i) {
      g.go([&sem, ctx = ctx]() -> goro::error {
        goro::error err = sem.acquire(ctx, 1);
        if (!err) {
          goro::sleep(1ms);
          sem.release(1);
        }
        return err;
      });
    }
    EXPECT_FALSE(g.wait()) << "failed to acquire(1) with acquire(" << n + 1 << ") pending";
    cancel_big();
    big.wait();
  });
}

// Times out (watchdog) if a large acquire starves.
TEST(Semaphore, LargeAcquireDoesntStarve) {
  watchdog w;
  goro::run([] {
    goro::context ctx = goro::background();
    const std::int64_t n = std::max(2, goro::max_procs());
    goro::semaphore sem(n);
    std::atomic<bool> running{true};
    goro::wait_group wg;
    for (std::int64_t i = n; i > 0; --i) {
      EXPECT_FALSE(sem.acquire(ctx, 1));
      wg.go([&] {
        while (running.load()) {
          goro::sleep(1ms);
          sem.release(1);
          EXPECT_FALSE(sem.acquire(ctx, 1));
        }
        sem.release(1);
      });
    }
    EXPECT_FALSE(sem.acquire(ctx, n));
    running = false;
    sem.release(n);
    wg.wait();
  });
}

// Go's TestAllocCancelDoesntStarve: a queued large acquire that gives up must
// let the small ones queued behind it through.
TEST(Semaphore, AllocCancelDoesntStarve) {
  watchdog w;
  goro::run([] {
    goro::semaphore sem(10);
    EXPECT_FALSE(sem.acquire(goro::background(), 1));  // hold 1 "read lock"
    goro::wait_group wg;
    wg.go([&] {
      auto [ctx, cancel] = goro::with_timeout(goro::background(), 300ms);
      EXPECT_TRUE(sem.acquire(ctx, 10));  // the "write lock" gives up
      cancel();
    });
    goro::sleep(100ms);  // long enough for it to queue
    auto done = goro::make_chan<void>();
    goro::go([&, done]() mutable {
      EXPECT_FALSE(sem.acquire(goro::background(), 1));  // queued behind the writer
      sem.release(1);
      done.close();
    });
    EXPECT_EQ(goro::select(goro::recv(done), goro::recv(goro::after(20s))), 0u);
    wg.wait();
    sem.release(1);
  });
}

TEST(Semaphore, FifoLargeHeadBlocksSmallerLaterOnes) {
  watchdog w;
  goro::run([] {
    goro::semaphore sem(4);
    EXPECT_FALSE(sem.acquire(goro::background(), 3));  // 1 left
    std::atomic<int> order{0};
    std::atomic<int> big_at{-1}, small_at{-1};
    goro::wait_group wg;
    wg.go([&] {  // wants all 4: must wait at the head
      EXPECT_FALSE(sem.acquire(goro::background(), 4));
      big_at = order.fetch_add(1);
      goro::sleep(5ms);
      sem.release(4);
    });
    goro::sleep(20ms);
    EXPECT_FALSE(sem.try_acquire(1));  // 1 is free, but somebody is queued
    wg.go([&] {  // wants 1, which is free: still queues behind the big one
      EXPECT_FALSE(sem.acquire(goro::background(), 1));
      small_at = order.fetch_add(1);
      sem.release(1);
    });
    goro::sleep(20ms);
    EXPECT_EQ(order.load(), 0);  // neither got through
    sem.release(1);
    goro::sleep(10ms);
    EXPECT_EQ(order.load(), 0);  // 2 free: still not enough for the head
    sem.release(2);
    wg.wait();
    EXPECT_EQ(big_at.load(), 0);
    EXPECT_EQ(small_at.load(), 1);
  });
}

TEST(Semaphore, PlainThreadsAndGoroutines) {
  watchdog w;
  goro::semaphore sem(2);
  std::atomic<int> inside{0}, max_inside{0};
  auto work = [&] {
    for (int i = 0; i < scaled(200); ++i) {
      EXPECT_FALSE(sem.acquire(goro::background(), 1));
      int now = inside.fetch_add(1) + 1;
      int m = max_inside.load();
      while (now > m && !max_inside.compare_exchange_weak(m, now)) {
      }
      inside.fetch_sub(1);
      sem.release(1);
    }
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < 3; ++i) ts.emplace_back(work);
  goro::wait_group wg;
  for (int i = 0; i < 3; ++i) wg.go(work);
  for (auto& t : ts) t.join();
  wg.wait();
  EXPECT_LE(max_inside.load(), 2);
  EXPECT_TRUE(sem.try_acquire(2));
}

// ---- errgroup -----------------------------------------------------------------

TEST(ErrGroup, ZeroGroup) {
  watchdog w;
  goro::error err1 = goro::new_error("errgroup_test: 1");
  goro::error err2 = goro::new_error("errgroup_test: 2");
  std::vector<std::vector<goro::error>> cases = {
      {}, {goro::error()}, {err1}, {err1, goro::error()}, {err1, goro::error(), err2}};
  for (auto& errs : cases) {
    goro::errgroup g;
    goro::error first;
    for (auto& err : errs) {
      g.go([err] { return err; });
      if (!first && err) first = err;
      goro::error got = g.wait();
      EXPECT_TRUE(got == first) << "wait() = " << got << " want " << first;
    }
  }
}

TEST(ErrGroup, WithContext) {
  watchdog w;
  goro::error doom = goro::new_error("group_test: doomed");
  std::vector<std::pair<std::vector<goro::error>, goro::error>> cases = {
      {{}, goro::error()},
      {{goro::error()}, goro::error()},
      {{doom}, doom},
      {{doom, goro::error()}, doom},
  };
  for (auto& [errs, want] : cases) {
    auto [g, ctx] = goro::errgroup::with_context(goro::background());
    for (auto& err : errs) g.go([err] { return err; });
    goro::error got = g.wait();
    EXPECT_TRUE(got == want) << got;
    EXPECT_EQ(ctx.done().try_recv(), 0) << "ctx.done() was not closed";
    // Go's TestCancelCause: the cause is the error, or canceled.
    EXPECT_TRUE(goro::cause(ctx) == (want ? want : goro::canceled)) << goro::cause(ctx);
  }
}

TEST(ErrGroup, FirstErrorCancelsContext) {
  watchdog w;
  goro::run([] {
    auto [g, ctx] = goro::errgroup::with_context(goro::background());
    goro::error boom = goro::new_error("boom");
    std::atomic<int> saw_cancel{0};
    for (int i = 0; i < 4; ++i)
      g.go([ctx = ctx, &saw_cancel]() -> goro::error {
        ctx.done().recv();  // until a sibling fails
        saw_cancel.fetch_add(1);
        return ctx.err();
      });
    g.go([boom] {
      goro::sleep(5ms);
      return boom;
    });
    goro::error err = g.wait();
    EXPECT_TRUE(err == boom);  // the first, not the later canceled ones
    EXPECT_EQ(saw_cancel.load(), 4);
    EXPECT_TRUE(goro::cause(ctx) == boom);
  });
}

TEST(ErrGroup, TryGo) {
  watchdog w;
  goro::run([] {
    goro::errgroup g;
    const int n = 42;
    g.set_limit(42);
    auto ch = goro::make_chan<void>();
    auto fn = [ch]() mutable -> goro::error {
      ch.send();
      return {};
    };
    for (int i = 0; i < n; ++i) ASSERT_TRUE(g.try_go(fn)) << "try_go failed at " << i;
    EXPECT_FALSE(g.try_go(fn)) << "try_go should fail at the limit";
    goro::go([ch]() mutable {
      for (int i = 0; i < n; ++i) ch.recv();
    });
    EXPECT_FALSE(g.wait());
    EXPECT_TRUE(g.try_go(fn)) << "try_go should succeed after all goroutines";
    goro::go([ch]() mutable { ch.recv(); });
    EXPECT_FALSE(g.wait());

    g.set_limit(1);
    EXPECT_TRUE(g.try_go(fn));
    EXPECT_FALSE(g.try_go(fn));
    goro::go([ch]() mutable { ch.recv(); });
    EXPECT_FALSE(g.wait());

    g.set_limit(0);  // blocks every call
    for (int i = 0; i < 1 << 10; ++i) EXPECT_FALSE(g.try_go(fn));
    EXPECT_FALSE(g.wait());
  });
}

TEST(ErrGroup, GoLimit) {
  watchdog w;
  goro::run([] {
    const int limit = 10;
    goro::errgroup g;
    g.set_limit(limit);
    std::atomic<int> active{0};
    for (int i = 0; i <= scaled(1 << 10); ++i) {
      g.go([&]() -> goro::error {
        int n = active.fetch_add(1) + 1;
        if (n > limit)
          return goro::new_error("saw " + std::to_string(n) + " active goroutines; want <= 10");
        goro::sleep(1us);
        active.fetch_sub(1);
        return {};
      });
    }
    goro::error err = g.wait();
    EXPECT_FALSE(err) << err;
  });
}

TEST(ErrGroup, GoBlocksAtTheLimit) {
  watchdog w;
  goro::run([] {
    goro::errgroup g;
    g.set_limit(1);
    auto release = goro::make_chan<void>();
    g.go([release]() mutable { release.recv(); });
    std::atomic<bool> second_started{false};
    goro::wait_group caller;
    caller.go([&] { g.go([&] { second_started = true; }); });
    goro::sleep(20ms);
    EXPECT_FALSE(second_started.load());
    release.close();
    caller.wait();
    EXPECT_FALSE(g.wait());
    EXPECT_TRUE(second_started.load());
  });
}

TEST(ErrGroup, SetLimitWhileActivePanics) {
  watchdog w;
  goro::run([] {
    goro::errgroup g;
    g.set_limit(2);
    auto release = goro::make_chan<void>();
    g.go([release]() mutable { release.recv(); });
    EXPECT_THROW(g.set_limit(5), goro::panic_error);
    release.close();
    EXPECT_FALSE(g.wait());
    g.set_limit(5);  // fine once idle
  });
}

TEST(ErrGroup, ExceptionsBecomeErrors) {
  watchdog w;
  goro::errgroup g;
  g.go([]() -> goro::error { throw std::runtime_error("disk on fire"); });
  goro::error err = g.wait();
  ASSERT_TRUE(err);
  EXPECT_EQ(err.message(), "disk on fire");

  goro::errgroup g2;
  g2.go([] { throw 42; });
  goro::error err2 = g2.wait();
  ASSERT_TRUE(err2);
  EXPECT_EQ(err2.message(), "errgroup: unknown exception");

  auto [g3, ctx] = goro::errgroup::with_context(goro::background());
  g3.go([] { throw std::logic_error("bad state"); });
  goro::error err3 = g3.wait();
  EXPECT_EQ(err3.message(), "bad state");
  EXPECT_TRUE(goro::cause(ctx) == err3);
}

TEST(ErrGroup, VoidFunctionsAndMoveOnlyCaptures) {
  watchdog w;
  goro::errgroup g;
  std::atomic<int> sum{0};
  for (int i = 1; i <= 10; ++i) {
    auto p = std::make_unique<int>(i);
    g.go([p = std::move(p), &sum] { sum.fetch_add(*p); });
  }
  EXPECT_FALSE(g.wait());
  EXPECT_EQ(sum.load(), 55);
}

TEST(ErrGroup, CapturesReleasedByWait) {
  watchdog w;
  auto token = std::make_shared<int>(1);
  goro::errgroup g;
  for (int i = 0; i < 8; ++i) g.go([token] {});
  EXPECT_FALSE(g.wait());
  EXPECT_EQ(token.use_count(), 1);
}

TEST(ErrGroup, MovedGroupKeepsWorking) {
  watchdog w;
  goro::errgroup a;
  auto gate = goro::make_chan<void>();
  goro::error boom = goro::new_error("boom");
  a.go([gate, boom]() mutable -> goro::error {
    gate.recv();
    return boom;
  });
  goro::errgroup b = std::move(a);
  gate.close();
  EXPECT_TRUE(b.wait() == boom);
  // The moved-from group is empty and usable.
  a.go([] {});
  EXPECT_FALSE(a.wait());
}

TEST(ErrGroup, Parallel) {
  // The errgroup "Google Search 2.0" example.
  watchdog w;
  goro::run([] {
    auto search = [](std::string kind) {
      return [kind](goro::context, const std::string& q) { return kind + " result for \"" + q + "\""; };
    };
    std::vector<std::function<std::string(goro::context, const std::string&)>> searches = {
        search("web"), search("image"), search("video")};
    auto [g, ctx] = goro::errgroup::with_context(goro::background());
    std::vector<std::string> results(searches.size());
    for (std::size_t i = 0; i < searches.size(); ++i)
      g.go([&, i, ctx = ctx] { results[i] = searches[i](ctx, "golang"); });
    EXPECT_FALSE(g.wait());
    EXPECT_EQ(results[0], "web result for \"golang\"");
    EXPECT_EQ(results[1], "image result for \"golang\"");
    EXPECT_EQ(results[2], "video result for \"golang\"");
  });
}

}  // namespace
