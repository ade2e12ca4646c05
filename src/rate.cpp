// goro::rate (include/goro/rate.hpp), after golang.org/x/time/rate.
//
// State (under mu_): tokens_ is the token count at last_; the count at a later
// t is tokens_ + limit_ * (t - last_), capped at burst_ (advance). A
// reservation (wait_n) subtracts its tokens at once, possibly below zero, and
// records when the debt is covered (time_to_act); last_event_ is the latest
// such time, so a cancelled reservation can tell how many of its tokens later
// reservations have already counted on (those are not given back).
//
// Durations from token counts are truncated to the clock's nanoseconds, as Go
// truncates to time.Duration: a debt under a nanosecond counts as none, so
// allow_n at exact multiples of the refill interval is not upset by rounding.
// A debt that would take over ~31 years (or forever, limit <= 0) is "never".
#include <goro/rate.hpp>

#include <goro/select.hpp>
#include <goro/time.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace goro::rate {

// Initialized before ordinary globals (after error.cpp's sentinels), so that
// other translation units' static initializers may use them.
__attribute__((init_priority(102))) const error exceeds_burst =
    new_error("exceeds limiter's burst");
__attribute__((init_priority(102))) const error would_exceed_deadline =
    new_error("would exceed context deadline");

namespace {

using seconds_d = std::chrono::duration<double>;

// Tokens refilled at lim over d. Whole seconds and the rest apart, so that a
// long d does not lose the nanoseconds to rounding.
double tokens_from_duration(limit lim, clock::duration d) {
  if (!(lim > 0) || d == clock::duration::zero()) return 0;
  if (std::isinf(lim)) return d > clock::duration::zero() ? inf : -inf;
  auto whole = std::chrono::duration_cast<std::chrono::seconds>(d);
  auto rest = std::chrono::duration_cast<std::chrono::nanoseconds>(d - whole);
  return static_cast<double>(whole.count()) * lim +
         static_cast<double>(rest.count()) * lim / 1e9;
}

// How long refilling `tokens` takes at lim (negative for negative tokens);
// nullopt for never.
constexpr double never_s = 1e9;  // ~31.7 years
std::optional<clock::duration> duration_from_tokens(limit lim, double tokens) {
  if (!(lim > 0)) return std::nullopt;
  double s = tokens / lim;
  if (!(std::fabs(s) < never_s)) return std::nullopt;
  return std::chrono::duration_cast<clock::duration>(seconds_d(s));
}

}  // namespace

limit every(clock::duration interval) {
  if (interval <= clock::duration::zero()) return inf;
  return 1 / seconds_d(interval).count();
}

limiter::limiter(limit r, int burst)
    : limit_(r),
      burst_(burst),
      tokens_(burst),
      last_(clock::now()),
      last_event_(last_) {}

double limiter::advance(clock::time_point t) const {
  clock::time_point last = std::min(last_, t);
  double tokens = tokens_ + tokens_from_duration(limit_, t - last);
  return std::min(tokens, static_cast<double>(burst_));
}

limiter::reservation limiter::reserve_n(clock::time_point t, int n,
                                        std::optional<clock::duration> max_wait) {
  std::lock_guard lk(mu_);
  reservation r;
  r.tokens = n;
  r.lim = limit_;
  r.burst = burst_;
  if (limit_ == inf) {
    r.st = status::ok;
    r.time_to_act = t;
    return r;
  }
  double tokens = advance(t) - n;
  clock::duration wait{};
  if (tokens < 0) {
    auto w = duration_from_tokens(limit_, -tokens);
    if (!w) {
      r.st = n > burst_ ? status::exceeds_burst : status::never;
      return r;
    }
    wait = *w;
  }
  if (n > burst_) {
    r.st = status::exceeds_burst;
    return r;
  }
  if (max_wait && wait > *max_wait) {
    r.st = status::too_late;
    return r;
  }
  r.st = status::ok;
  r.time_to_act = t + wait;
  last_ = t;
  tokens_ = tokens;
  last_event_ = r.time_to_act;
  return r;
}

void limiter::cancel_at(const reservation& r, clock::time_point t) {
  std::lock_guard lk(mu_);
  if (limit_ == inf || r.tokens == 0 || r.time_to_act < t) return;
  // Reservations made after r, up to last_event_, count on r's tokens already
  // being spent: restore only the rest.
  double restore = r.tokens - tokens_from_duration(r.lim, last_event_ - r.time_to_act);
  if (!(restore > 0)) return;
  double tokens = std::min(advance(t) + restore, static_cast<double>(burst_));
  last_ = t;
  tokens_ = tokens;
  if (r.time_to_act == last_event_) {
    // r was the latest event: the latest is now the one before it, if that
    // is still in the future.
    if (auto back = duration_from_tokens(r.lim, -static_cast<double>(r.tokens))) {
      clock::time_point prev = r.time_to_act + *back;
      if (prev >= t) last_event_ = prev;
    }
  }
}

bool limiter::allow() { return allow_n(clock::now(), 1); }

bool limiter::allow_n(clock::time_point now, int n) {
  return reserve_n(now, n, clock::duration::zero()).st == status::ok;
}

error limiter::wait(context ctx) { return wait_n(std::move(ctx), 1); }

error limiter::wait_n(context ctx, int n) {
  auto too_big = [n](int burst) {
    return wrap(exceeds_burst, "rate: wait(n=" + std::to_string(n) + ") with burst " +
                                   std::to_string(burst));
  };
  int burst;
  limit lim;
  {
    std::lock_guard lk(mu_);
    burst = burst_;
    lim = limit_;
  }
  if (n > burst && lim != inf) return too_big(burst);
  if (error err = ctx.err()) return err;

  clock::time_point t = clock::now();
  std::optional<clock::duration> max_wait;
  if (auto dl = ctx.deadline()) max_wait = *dl - t;
  reservation r = reserve_n(t, n, max_wait);
  switch (r.st) {
    case status::ok: break;
    case status::exceeds_burst: return too_big(r.burst);  // burst lowered meanwhile
    case status::too_late:
      return wrap(would_exceed_deadline, "rate: wait(n=" + std::to_string(n) + ")");
    case status::never: {
      if (max_wait)
        return wrap(would_exceed_deadline, "rate: wait(n=" + std::to_string(n) + ")");
      // The tokens never come (limit <= 0) and nothing was reserved: wait for
      // ctx, forever if it cannot be cancelled (as x/time/rate's endless timer).
      recv_chan<void> d = ctx.done();
      d.recv();
      return ctx.err();
    }
  }

  clock::duration delay = r.time_to_act - t;
  if (delay <= clock::duration::zero()) return {};
  recv_chan<void> d = ctx.done();
  if (!d) {  // cannot be cancelled
    goro::sleep(delay);
    return {};
  }
  timer tm(delay);
  if (goro::select(goro::recv(tm.c()), goro::recv(d)) == 0) return {};
  cancel_at(r, clock::now());
  return ctx.err();
}

limit limiter::get_limit() const {
  std::lock_guard lk(mu_);
  return limit_;
}

int limiter::burst() const {
  std::lock_guard lk(mu_);
  return burst_;
}

void limiter::set_limit(limit r) { set_limit_at(clock::now(), r); }
void limiter::set_burst(int b) { set_burst_at(clock::now(), b); }

void limiter::set_limit_at(clock::time_point now, limit r) {
  std::lock_guard lk(mu_);
  tokens_ = advance(now);
  last_ = now;
  limit_ = r;
}

void limiter::set_burst_at(clock::time_point now, int b) {
  std::lock_guard lk(mu_);
  tokens_ = advance(now);
  last_ = now;
  burst_ = b;
}

double limiter::tokens() const { return tokens_at(clock::now()); }

double limiter::tokens_at(clock::time_point now) const {
  std::lock_guard lk(mu_);
  return advance(now);
}

multi_limiter::multi_limiter(std::vector<std::shared_ptr<limiter>> tiers)
    : tiers_(std::move(tiers)) {
  for (const auto& t : tiers_)
    if (!t) throw std::invalid_argument("rate: multi_limiter: null tier");
  // Strictest (lowest limit) first, as the seed's MultiLimiter sorts.
  std::vector<std::pair<limit, std::shared_ptr<limiter>>> keyed;
  keyed.reserve(tiers_.size());
  for (auto& t : tiers_) keyed.emplace_back(t->get_limit(), std::move(t));
  std::stable_sort(keyed.begin(), keyed.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < keyed.size(); ++i) tiers_[i] = std::move(keyed[i].second);
}

error multi_limiter::wait(context ctx) {
  for (const auto& t : tiers_)
    if (error err = t->wait(ctx)) return err;
  return {};
}

limit multi_limiter::get_limit() const {
  limit lowest = inf;
  for (const auto& t : tiers_) lowest = std::min(lowest, t->get_limit());
  return lowest;
}

}  // namespace goro::rate
