// goro::rate (API.md §8): ports of golang.org/x/time/rate's rate_test.go that
// do not depend on tight timing — allow_n with explicit time points (exact),
// every(), inf, burst 0, limit 0, set_limit/set_burst, tokens(), wait_n's
// up-front failures — plus real waits asserted only from below, cancellation
// giving the reservation back, the seed's multi_limiter, and a concurrent
// bound: 8 goroutines never get more than burst + rate * elapsed.

#include <goro/context.hpp>
#include <goro/rate.hpp>
#include <goro/runtime.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using goro::clock;
using goro::rate::inf;
using goro::rate::limiter;

using goro_test::watchdog;

// rate_test.go's time points: t0 (after the limiter is made) + k * 100ms.
constexpr auto d = 100ms;

struct allow_step {
  int k;  // at t0 + k * d
  int n;
  bool ok;
};

void run_steps(limiter& lim, clock::time_point t0, const std::vector<allow_step>& steps) {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const auto& s = steps[i];
    EXPECT_EQ(lim.allow_n(t0 + s.k * d, s.n), s.ok)
        << "step " << i << ": allow_n(t" << s.k << ", " << s.n << ")";
  }
}

bool close_enough(double a, double b) { return std::fabs(a / b - 1.0) < 1e-9; }

double ms_since(clock::time_point start) {
  return std::chrono::duration<double, std::milli>(clock::now() - start).count();
}

TEST(Rate, Limit) { EXPECT_NE(goro::rate::limit(10), inf); }

TEST(Rate, Every) {
  using goro::rate::every;
  EXPECT_EQ(every(0ns), inf);
  EXPECT_EQ(every(-1ns), inf);
  EXPECT_EQ(every(-5s), inf);
  struct {
    clock::duration interval;
    double want;
  } cases[] = {
      {1ns, 1e9},  {1us, 1e6},  {1ms, 1e3},  {10ms, 100}, {100ms, 10},
      {1s, 1},     {2s, 0.5},   {2500ms, 0.4}, {4s, 0.25}, {10s, 0.1},
      {clock::duration::max(), 1e9 / static_cast<double>(clock::duration::max().count())},
  };
  for (const auto& c : cases)
    EXPECT_TRUE(close_enough(every(c.interval), c.want))
        << c.interval.count() << "ns: " << every(c.interval) << " want " << c.want;
  EXPECT_TRUE(close_enough(every(std::chrono::minutes(1)), 1.0 / 60));
}

TEST(Rate, Accessors) {
  limiter lim(5, 7);
  EXPECT_EQ(lim.get_limit(), 5);
  EXPECT_EQ(lim.burst(), 7);
  EXPECT_DOUBLE_EQ(lim.tokens(), 7);  // starts full
}

// TestLimiterBurst1
TEST(Rate, Burst1) {
  limiter lim(10, 1);
  auto t0 = clock::now();
  run_steps(lim, t0,
            {
                {0, 1, true},
                {0, 1, false},
                {0, 1, false},
                {1, 1, true},
                {1, 1, false},
                {1, 1, false},
                {2, 2, false},  // burst size is 1, so n=2 always fails
                {2, 1, true},
                {2, 1, false},
            });
}

// TestLimiterBurst3
TEST(Rate, Burst3) {
  limiter lim(10, 3);
  auto t0 = clock::now();
  run_steps(lim, t0,
            {
                {0, 2, true},
                {0, 2, false},
                {0, 1, true},
                {0, 1, false},
                {1, 4, false},
                {2, 1, true},
                {3, 1, true},
                {4, 1, true},
                {4, 1, true},
                {4, 1, false},
                {4, 1, false},
                {9, 3, true},
                {9, 0, true},
            });
}

// TestLimiterJumpBackwards: a time point before the last one counts as no
// time elapsed; going forward again refills from the earlier point.
TEST(Rate, JumpBackwards) {
  limiter lim(10, 3);
  auto t0 = clock::now();
  run_steps(lim, t0,
            {
                {1, 1, true},  // start at t1
                {0, 1, true},  // jump back to t0, two tokens remain
                {0, 1, true},
                {0, 1, false},
                {0, 1, false},
                {1, 1, true},  // got a token
                {1, 1, false},
                {1, 1, false},
                {2, 1, true},  // got another token
                {2, 1, false},
                {2, 1, false},
            });
}

// A long idle period refills up to burst, never more.
TEST(Rate, RefillCapsAtBurst) {
  limiter lim(10, 5);
  auto t0 = clock::now();
  EXPECT_TRUE(lim.allow_n(t0, 5));
  EXPECT_FALSE(lim.allow_n(t0, 1));
  EXPECT_DOUBLE_EQ(lim.tokens_at(t0 + 1000 * d), 5);
  EXPECT_FALSE(lim.allow_n(t0 + 1000 * d, 6));
  EXPECT_TRUE(lim.allow_n(t0 + 1000 * d, 5));
  EXPECT_FALSE(lim.allow_n(t0 + 1000 * d, 1));
  // Fractional refill: 0.5 token at t0 + 1000d + 50ms is not enough for 1.
  EXPECT_FALSE(lim.allow_n(t0 + 1000 * d + 50ms, 1));
  EXPECT_TRUE(lim.allow_n(t0 + 1001 * d, 1));
}

TEST(Rate, Inf) {
  limiter lim(inf, 0);
  auto t0 = clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(lim.allow_n(t0, 1000));
  EXPECT_TRUE(lim.allow());
  watchdog w;
  auto start = clock::now();
  for (int i = 0; i < 100; ++i) EXPECT_EQ(lim.wait_n(goro::background(), 1000), nullptr);
  EXPECT_LT(ms_since(start), 5000);
  // An already-cancelled context still fails, as in x/time/rate.
  auto pr = goro::with_cancel(goro::background());
  pr.second();
  EXPECT_EQ(lim.wait(pr.first), goro::canceled);
}

TEST(Rate, BurstZero) {
  limiter lim(10, 0);
  auto t0 = clock::now();
  EXPECT_FALSE(lim.allow());
  EXPECT_FALSE(lim.allow_n(t0 + 1000 * d, 1));
  EXPECT_TRUE(lim.allow_n(t0, 0));  // zero events are always allowed
  goro::error err = lim.wait(goro::background());
  EXPECT_TRUE(goro::is(err, goro::rate::exceeds_burst)) << err;
  EXPECT_EQ(lim.wait_n(goro::background(), 0), nullptr);
}

// A limit of 0 never refills: the initial burst is all there is.
TEST(Rate, LimitZero) {
  limiter lim(0, 3);
  auto t0 = clock::now();
  run_steps(lim, t0,
            {
                {0, 1, true},
                {1, 1, true},
                {1000, 1, true},
                {1000, 1, false},
                {100000, 1, false},
            });
  watchdog w;
  // With a deadline the wait fails at once; with a cancellable context it
  // waits until cancelled, taking nothing.
  auto to = goro::with_timeout(goro::background(), 10s);
  auto start = clock::now();
  goro::error err = lim.wait(to.first);
  EXPECT_TRUE(goro::is(err, goro::rate::would_exceed_deadline)) << err;
  EXPECT_LT(ms_since(start), 5000);
  to.second();

  auto pr = goro::with_cancel(goro::background());
  std::atomic<bool> returned{false};
  goro::error got;
  goro::wait_group wg;
  wg.go([&, ctx = pr.first] {
    got = lim.wait(ctx);
    returned = true;
  });
  goro_test::settle();
  EXPECT_FALSE(returned.load());
  pr.second();
  wg.wait();
  EXPECT_EQ(got, goro::canceled);
  EXPECT_DOUBLE_EQ(lim.tokens(), 0);
}

TEST(Rate, NegativeLimitIsZero) {
  limiter lim(-1, 1);
  auto t0 = clock::now();
  EXPECT_TRUE(lim.allow_n(t0, 1));
  EXPECT_FALSE(lim.allow_n(t0 + 1000 * d, 1));
}

TEST(Rate, SetLimitAt) {
  limiter lim(10, 2);
  auto t0 = clock::now();
  EXPECT_TRUE(lim.allow_n(t0, 2));
  EXPECT_FALSE(lim.allow_n(t0, 1));
  // At t1 one token has come at the old rate; from then on 1/s.
  lim.set_limit_at(t0 + d, 1);
  EXPECT_EQ(lim.get_limit(), 1);
  EXPECT_NEAR(lim.tokens_at(t0 + d), 1, 1e-9);
  EXPECT_TRUE(lim.allow_n(t0 + d, 1));
  EXPECT_FALSE(lim.allow_n(t0 + 2 * d, 1));    // 0.1 token
  EXPECT_FALSE(lim.allow_n(t0 + 10 * d, 1));   // 0.9 token
  EXPECT_NEAR(lim.tokens_at(t0 + 11 * d), 1, 1e-9);
  EXPECT_TRUE(lim.allow_n(t0 + 11 * d, 1));
  // Raising it to inf allows everything; back to finite, the bucket is full.
  lim.set_limit_at(t0 + 11 * d, inf);
  EXPECT_TRUE(lim.allow_n(t0 + 11 * d, 100));
  lim.set_limit_at(t0 + 12 * d, 10);
  EXPECT_NEAR(lim.tokens_at(t0 + 12 * d), 2, 1e-9);
  EXPECT_TRUE(lim.allow_n(t0 + 12 * d, 2));
  EXPECT_FALSE(lim.allow_n(t0 + 12 * d, 1));
}

TEST(Rate, SetBurstAt) {
  limiter lim(10, 1);
  auto t0 = clock::now();
  EXPECT_TRUE(lim.allow_n(t0, 1));
  EXPECT_FALSE(lim.allow_n(t0, 1));
  lim.set_burst_at(t0, 5);
  EXPECT_EQ(lim.burst(), 5);
  EXPECT_NEAR(lim.tokens_at(t0), 0, 1e-9);  // raising the burst adds no tokens
  EXPECT_NEAR(lim.tokens_at(t0 + 5 * d), 5, 1e-9);
  EXPECT_TRUE(lim.allow_n(t0 + 5 * d, 5));
  EXPECT_FALSE(lim.allow_n(t0 + 5 * d, 1));
  lim.set_burst_at(t0 + 5 * d, 1);
  EXPECT_NEAR(lim.tokens_at(t0 + 9 * d), 1, 1e-9);  // refills only up to the new burst
  EXPECT_FALSE(lim.allow_n(t0 + 9 * d, 2));
  EXPECT_TRUE(lim.allow_n(t0 + 9 * d, 1));
}

// The real-clock setters: the token count is brought up to date first.
TEST(Rate, SetLimitAndBurstNow) {
  limiter lim(goro::rate::every(1h), 1);
  EXPECT_TRUE(lim.allow());
  EXPECT_FALSE(lim.allow());
  lim.set_limit(inf);
  EXPECT_EQ(lim.get_limit(), inf);
  EXPECT_TRUE(lim.allow());
  EXPECT_TRUE(lim.allow());
  lim.set_limit(goro::rate::every(1h));
  lim.set_burst(3);
  EXPECT_EQ(lim.burst(), 3);
  // inf refilled the bucket to the old burst (1) when it was left.
  EXPECT_NEAR(lim.tokens(), 1, 1e-3);
  EXPECT_TRUE(lim.allow());
  EXPECT_FALSE(lim.allow());
}

TEST(Rate, Tokens) {
  limiter lim(10, 5);
  auto t0 = clock::now();
  EXPECT_DOUBLE_EQ(lim.tokens_at(t0), 5);
  EXPECT_TRUE(lim.allow_n(t0, 3));
  EXPECT_NEAR(lim.tokens_at(t0), 2, 1e-9);
  EXPECT_NEAR(lim.tokens_at(t0 + d), 3, 1e-9);
  EXPECT_NEAR(lim.tokens_at(t0 + 15 * d), 5, 1e-9);
  EXPECT_NEAR(lim.tokens_at(t0 + d), 3, 1e-9);  // tokens_at changes nothing
  double now = lim.tokens();
  EXPECT_GE(now, 2 - 1e-9);
  EXPECT_LE(now, 5);
}

TEST(Rate, WaitNExceedsBurst) {
  limiter lim(10, 3);
  goro::error err = lim.wait_n(goro::background(), 4);
  ASSERT_TRUE(err);
  EXPECT_TRUE(goro::is(err, goro::rate::exceeds_burst)) << err;
  EXPECT_NE(err.message().find("n=4"), std::string::npos) << err;
  EXPECT_NE(err.message().find("burst 3"), std::string::npos) << err;
  EXPECT_DOUBLE_EQ(lim.tokens(), 3);  // nothing taken
  EXPECT_EQ(lim.wait_n(goro::background(), 3), nullptr);
}

TEST(Rate, WaitCancelledContextTakesNothing) {
  limiter lim(10, 3);
  auto pr = goro::with_cancel(goro::background());
  pr.second();
  EXPECT_EQ(lim.wait(pr.first), goro::canceled);
  EXPECT_EQ(lim.wait_n(pr.first, 3), goro::canceled);
  EXPECT_DOUBLE_EQ(lim.tokens(), 3);
  // An expired deadline reports deadline_exceeded.
  auto to = goro::with_timeout(goro::background(), 0s);
  EXPECT_EQ(lim.wait(to.first), goro::deadline_exceeded);
  to.second();
  EXPECT_TRUE(lim.allow_n(clock::now(), 3));
}

// TestWaitTimeout: the wait would outlast the deadline, so it fails at once
// and reserves nothing.
TEST(Rate, WaitDeadlineTooShort) {
  watchdog w;
  limiter lim(0.1, 1);  // one token per 10 s
  EXPECT_TRUE(lim.allow());
  auto to = goro::with_timeout(goro::background(), 2s);
  auto start = clock::now();
  goro::error err = lim.wait(to.first);
  EXPECT_LT(ms_since(start), 1500);  // did not wait for the deadline
  ASSERT_TRUE(err);
  EXPECT_TRUE(goro::is(err, goro::rate::would_exceed_deadline)) << err;
  EXPECT_EQ(to.first.err(), nullptr);
  EXPECT_GT(lim.tokens(), -0.5);  // nothing reserved
  to.second();

  // The same from a goroutine.
  auto to2 = goro::with_timeout(goro::background(), 2s);
  goro::error got;
  goro::wait_group wg;
  wg.go([&, ctx = to2.first] { got = lim.wait(ctx); });
  wg.wait();
  EXPECT_TRUE(goro::is(got, goro::rate::would_exceed_deadline)) << got;
  to2.second();
}

// TestSimultaneousRequests-like, but timed: 10 tokens at 100/s with burst 1
// take at least 90 ms; checked from a goroutine and from a plain thread.
TEST(Rate, WaitTakesExpectedTime) {
  watchdog w;
  for (bool in_goroutine : {true, false}) {
    limiter lim(100, 1);
    auto start = clock::now();
    auto body = [&] {
      auto to = goro::with_timeout(goro::background(), 30s);
      for (int i = 0; i < 10; ++i) EXPECT_EQ(lim.wait(to.first), nullptr);
      to.second();
    };
    if (in_goroutine) {
      goro::wait_group wg;
      wg.go(body);
      wg.wait();
    } else {
      body();
    }
    double ms = ms_since(start);
    EXPECT_GE(ms, 80) << (in_goroutine ? "goroutine" : "thread");
    EXPECT_LT(ms, 20000);
  }
  // wait_n with a background (never cancelled) context sleeps too.
  limiter lim(100, 5);
  EXPECT_TRUE(lim.allow_n(clock::now(), 5));
  auto start = clock::now();
  EXPECT_EQ(lim.wait_n(goro::background(), 5), nullptr);
  EXPECT_GE(ms_since(start), 40);
}

// Cancelling a parked waiter gives its tokens back (Reservation.Cancel).
TEST(Rate, WaitCancelGivesTokensBack) {
  watchdog w;
  limiter lim(1, 3);  // 1 token/s
  ASSERT_TRUE(lim.allow_n(clock::now(), 3));
  auto pr = goro::with_cancel(goro::background());
  std::atomic<bool> returned{false};
  goro::error got;
  goro::wait_group wg;
  wg.go([&, ctx = pr.first] {
    got = lim.wait_n(ctx, 2);  // ~2 s away
    returned = true;
  });
  // The reservation shows as debt while it waits.
  EXPECT_TRUE(goro_test::eventually([&] { return lim.tokens() < -1.5; }, 5000ms));
  EXPECT_FALSE(returned.load());
  pr.second();
  wg.wait();
  EXPECT_EQ(got, goro::canceled);
  // Both tokens are back: the count is what it would have been without it.
  double t = lim.tokens();
  EXPECT_GT(t, -0.01);
  EXPECT_LT(t, 3.0);
  // A reservation made after the cancelled one keeps its place: cancel the
  // first of two and only the part nobody counted on returns.
  limiter lim2(1, 1);
  ASSERT_TRUE(lim2.allow());
  auto a = goro::with_cancel(goro::background());
  auto b = goro::with_cancel(goro::background());
  goro::wait_group wga, wgb;
  goro::error ea, eb;
  wga.go([&, ctx = a.first] { ea = lim2.wait(ctx); });
  ASSERT_TRUE(goro_test::eventually([&] { return lim2.tokens() < -0.5; }, 5000ms));
  wgb.go([&, ctx = b.first] { eb = lim2.wait(ctx); });
  ASSERT_TRUE(goro_test::eventually([&] { return lim2.tokens() < -1.5; }, 5000ms));
  a.second();  // the later reservation already counts on a's token: nothing back
  wga.wait();
  b.second();  // b is now the latest: its token comes back
  wgb.wait();
  EXPECT_EQ(ea, goro::canceled);
  EXPECT_EQ(eb, goro::canceled);
  double t2 = lim2.tokens();
  EXPECT_LT(t2, 0.0);  // a's debt stays
  EXPECT_GT(t2, -1.5);
}

TEST(Rate, MultiLimiterGetLimitAndOrder) {
  auto per_sec = std::make_shared<limiter>(10, 1);
  auto per_min = std::make_shared<limiter>(goro::rate::every(6s), 10);
  auto fast = std::make_shared<limiter>(1000, 1);
  goro::rate::multi_limiter m({fast, per_sec, per_min});
  EXPECT_TRUE(close_enough(m.get_limit(), 10.0 / 60));  // the strictest
  ASSERT_EQ(m.tiers().size(), 3u);
  EXPECT_EQ(m.tiers()[0], per_min);
  EXPECT_EQ(m.tiers()[1], per_sec);
  EXPECT_EQ(m.tiers()[2], fast);

  goro::rate::multi_limiter empty({});
  EXPECT_EQ(empty.get_limit(), inf);
  EXPECT_EQ(empty.wait(goro::background()), nullptr);

  std::vector<std::shared_ptr<limiter>> with_null{per_sec, nullptr};
  EXPECT_THROW(goro::rate::multi_limiter{with_null}, std::invalid_argument);
}

TEST(Rate, MultiLimiterWait) {
  watchdog w;
  // Success takes a token from every tier.
  auto a = std::make_shared<limiter>(1, 1);
  auto b = std::make_shared<limiter>(100, 2);
  goro::rate::multi_limiter m({b, a});
  EXPECT_EQ(m.get_limit(), 1);
  EXPECT_EQ(m.wait(goro::background()), nullptr);
  EXPECT_LT(a->tokens(), 0.5);
  EXPECT_LT(b->tokens(), 1.5);

  // Strictest first, first error returned: `a` is empty and cannot refill
  // before the deadline, so the wait fails there and `b` is not touched.
  auto strict = std::make_shared<limiter>(0.1, 1);
  auto loose = std::make_shared<limiter>(100, 1);
  ASSERT_TRUE(strict->allow());
  goro::rate::multi_limiter m2({loose, strict});
  auto to = goro::with_timeout(goro::background(), 2s);
  goro::error err = m2.wait(to.first);
  EXPECT_TRUE(goro::is(err, goro::rate::would_exceed_deadline)) << err;
  EXPECT_DOUBLE_EQ(loose->tokens(), 1);
  to.second();

  // A cancelled context stops it before any tier.
  auto pr = goro::with_cancel(goro::background());
  pr.second();
  goro::rate::multi_limiter m3({std::make_shared<limiter>(10, 1), loose});
  EXPECT_EQ(m3.wait(pr.first), goro::canceled);
  EXPECT_DOUBLE_EQ(loose->tokens(), 1);

  // Waiting through every tier: 5 events with tiers of 50/s and 100/s
  // (bursts of 1) take at least ~4 * 20 ms.
  goro::rate::multi_limiter m4(
      {std::make_shared<limiter>(100, 1), std::make_shared<limiter>(50, 1)});
  auto start = clock::now();
  goro::wait_group wg;
  wg.go([&] {
    for (int i = 0; i < 5; ++i) EXPECT_EQ(m4.wait(goro::background()), nullptr);
  });
  wg.wait();
  EXPECT_GE(ms_since(start), 70);
}

// 8 goroutines hammer one limiter with wait: the number admitted never
// exceeds burst + rate * elapsed.
TEST(Rate, ConcurrentWaitRespectsRate) {
  watchdog w;
  constexpr double r = 200;
  constexpr int burst = 5;
  const auto window = goro_test::sanitizer_build() ? 400ms : 300ms;
  auto start = clock::now();
  limiter lim(r, burst);
  auto to = goro::with_timeout(goro::background(), window);
  std::atomic<int> admitted{0};
  std::atomic<int> failed{0};
  goro::wait_group wg;
  for (int g = 0; g < 8; ++g) {
    wg.go([&, ctx = to.first] {
      for (;;) {
        goro::error err = lim.wait(ctx);
        if (err) {
          ++failed;
          return;
        }
        ++admitted;
      }
    });
  }
  wg.wait();
  double elapsed_s = std::chrono::duration<double>(clock::now() - start).count();
  to.second();
  double bound = burst + r * elapsed_s + 1;
  EXPECT_LE(admitted.load(), bound) << "elapsed " << elapsed_s << " s";
  EXPECT_GE(admitted.load(), burst);
  EXPECT_EQ(failed.load(), 8);
}

// allow() from many goroutines at a fixed time point: exactly burst succeed.
TEST(Rate, ConcurrentAllowN) {
  watchdog w;
  limiter lim(1, 50);
  auto t0 = clock::now();
  std::atomic<int> ok{0};
  goro::wait_group wg;
  for (int g = 0; g < 8; ++g)
    wg.go([&] {
      for (int i = 0; i < 20; ++i)
        if (lim.allow_n(t0, 1)) ++ok;
    });
  wg.wait();
  EXPECT_EQ(ok.load(), 50);
}

}  // namespace
