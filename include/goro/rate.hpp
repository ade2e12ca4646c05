// goro::rate — golang.org/x/time/rate (API.md §8; the seed's chapter 5, "Rate
// Limiting": a token bucket, and MultiLimiter for tiers of limits).
//
//   goro::rate::limiter lim(goro::rate::every(100ms), 5);  // 10/s, bursts of 5
//   if (goro::error err = lim.wait(ctx)) return err;        // parks until allowed
//
// A limiter is a bucket of `burst` tokens, initially full, refilled at `limit`
// tokens per second. Each event takes one token (n for allow_n / wait_n):
//  * allow_n(now, n) takes n tokens if they are there at `now`, else nothing.
//  * wait_n(ctx, n) takes n tokens at once, letting the count go negative (a
//    reservation of future tokens), and parks until the refill has covered
//    the debt. Waiters therefore queue in the order they called: each one's
//    debt pushes the next one's time later.
//  * limit == inf allows everything, whatever the burst. A limit of 0 (or
//    less) never refills: the initial `burst` tokens are all there will be
//    (until set_limit).
//
// Time: the refill is computed from the time points the calls carry (clock::now()
// for allow, wait, set_*), so a limiter does no work while idle: no timer, no
// goroutine. allow_n with explicit time points is deterministic; a time point
// earlier than the last one seen counts as no time elapsed (the limiter does not
// give tokens back for it).
//
// Every member is safe to call from any goroutine or plain thread concurrently.
// wait/wait_n park a goroutine (block a plain thread); no lock is held while
// waiting.
#pragma once

#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include <goro/clock.hpp>
#include <goro/context.hpp>
#include <goro/error.hpp>
#include <goro/sync/mutex.hpp>

namespace goro::rate {

// Events per second.
using limit = double;
// No limit: every event is allowed, whatever the burst.
inline constexpr limit inf = std::numeric_limits<double>::infinity();

// The limit of one event every `interval`: 1 / interval-in-seconds.
// interval <= 0: inf.
limit every(clock::duration interval);

// What wait_n returns when it fails up front, without waiting or taking
// anything. Each call returns a new error wrapping one of these, with n (and
// the burst) in its message: test with goro::is(err, rate::exceeds_burst).
//   exceeds_burst: n > burst with a finite limit — it could never be allowed.
//   would_exceed_deadline: the tokens would not be there before ctx's deadline.
extern const error exceeds_burst;
extern const error would_exceed_deadline;

// limiter
//
// x/time/rate's Limiter (without the Reservation API). Neither copyable nor
// movable (share one through a pointer, as multi_limiter does).
class limiter {
 public:
  // A full bucket of `burst` tokens refilled at r per second. burst <= 0 with
  // a finite r allows nothing (but allow_n(t, 0) and wait_n(ctx, 0)).
  limiter(limit r, int burst);
  limiter(const limiter&) = delete;
  limiter& operator=(const limiter&) = delete;

  // allow_n(clock::now(), 1).
  [[nodiscard]] bool allow();
  // Whether n events may happen at `now`: if so, takes n tokens and returns
  // true; otherwise takes nothing. Never waits. Use it to drop or skip events
  // that exceed the rate.
  [[nodiscard]] bool allow_n(clock::time_point now, int n);

  // wait_n(ctx, 1).
  [[nodiscard("returns an error when it gives up")]] error wait(context ctx);
  // Waits until n events may happen, then returns nil, the n tokens taken.
  // Fails without waiting or taking anything:
  //  * n > burst() with a finite limit: an error wrapping exceeds_burst;
  //  * ctx already done: ctx.err();
  //  * ctx has a deadline the tokens cannot be there by: an error wrapping
  //    would_exceed_deadline (a deadline already past fails even when the
  //    tokens are there, as in x/time/rate).
  // Otherwise it reserves the tokens and parks until their time. If ctx is
  // done first it returns ctx.err() and gives the reservation back: the
  // tokens not yet spoken for by later reservations return to the bucket
  // (x/time/rate's Reservation.Cancel). With a limit of 0, tokens that are
  // not there never come: wait_n waits for ctx (forever for background()).
  [[nodiscard("returns an error when it gives up")]] error wait_n(context ctx, int n);

  limit get_limit() const;
  int burst() const;
  // Change the limit / burst from now on. The token count is first brought
  // up to date at the old settings (set_*_at: at `now`). Waiters already
  // parked keep the time they were given.
  void set_limit(limit r);
  void set_burst(int b);
  void set_limit_at(clock::time_point now, limit r);
  void set_burst_at(clock::time_point now, int b);

  // The number of tokens available now (at `now`); negative while waiters
  // hold reservations. Changes nothing.
  double tokens() const;
  double tokens_at(clock::time_point now) const;

 private:
  enum class status {
    ok,             // reserved (or allowed)
    exceeds_burst,  // n > burst
    too_late,       // the tokens would come after max_wait
    never,          // the tokens never come (limit <= 0): nothing reserved
  };
  struct reservation {
    status st = status::never;
    int tokens = 0;                   // n
    clock::time_point time_to_act{};  // when the tokens are there
    limit lim = 0;                    // the limit when reserved
    int burst = 0;                    // the burst when reserved
  };
  // Takes n tokens at t if they are there within max_wait of t (nullopt: any
  // time). Takes mu_.
  reservation reserve_n(clock::time_point t, int n, std::optional<clock::duration> max_wait);
  // Gives r's tokens back at t, as x/time/rate's Reservation.CancelAt. Takes mu_.
  void cancel_at(const reservation& r, clock::time_point t);
  // The token count at t (t before last_ counts as last_). mu_ held.
  double advance(clock::time_point t) const;

  mutable mutex mu_;
  limit limit_;               // guarded by mu_
  int burst_;                 // guarded by mu_
  double tokens_;             // guarded by mu_; at last_
  clock::time_point last_;    // guarded by mu_; when tokens_ was last brought up to date
  clock::time_point last_event_;  // guarded by mu_; latest reserved event (past or future)
};

// multi_limiter
//
// The seed's MultiLimiter: tiers of limits (per second, per minute, per day...)
// that must all allow an event. The tiers are sorted by limit, strictest
// (lowest) first, at construction. A tier may also be used on its own or in
// other multi_limiters. Null tiers: std::invalid_argument.
class multi_limiter {
 public:
  explicit multi_limiter(std::vector<std::shared_ptr<limiter>> tiers);

  // Waits on every tier in turn (strictest first); returns the first error
  // (tokens already taken from earlier tiers are kept, as in the seed). nil
  // for no tiers.
  [[nodiscard("returns an error when it gives up")]] error wait(context ctx);
  // The strictest (lowest) tier's current limit; inf for no tiers.
  limit get_limit() const;

  const std::vector<std::shared_ptr<limiter>>& tiers() const noexcept { return tiers_; }

 private:
  std::vector<std::shared_ptr<limiter>> tiers_;
};

}  // namespace goro::rate
