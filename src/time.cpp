// The public timers (time.hpp) on the runtime's rtimer (timer.hpp).
#include <goro/runtime.hpp>
#include <goro/time.hpp>

#include "chan.hpp"
#include "timer.hpp"

namespace goro::detail {

// A heap-allocated timer with its channel (or after_func callback).
// References: one per owner (timer/ticker object), one while armed.
struct chan_timer {
  rtimer t;
  hchan* c = nullptr;          // retained; null for after_func
  std::function<void()> func;  // after_func only
  bool owned_by_tick = false;  // tick(): stops once nobody else holds c
};

namespace {

using tp = clock::time_point;

void free_chan_timer(rtimer* t) {
  auto* ct = reinterpret_cast<chan_timer*>(t);
  chan_release(ct->c);
  delete ct;
}

void fire_send(rtimer* t, std::int64_t now, ready_batch&) {
  auto* ct = reinterpret_cast<chan_timer*>(t);
  if (ct->owned_by_tick && reinterpret_cast<hchan_ref*>(ct->c)->refs.load() == 1) {
    t->period = 0;  // nobody can receive any more: let it go
    return;
  }
  tp now_tp{std::chrono::nanoseconds(now)};
  chan_try_send(ct->c, &now_tp);  // a full buffer drops the tick
}

void fire_func(rtimer* t, std::int64_t, ready_batch&) {
  auto* ct = reinterpret_cast<chan_timer*>(t);
  goro::go(ct->func);
}

chan_timer* new_chan_timer(bool with_chan) {
  auto* ct = new chan_timer;
  ct->t.heap_allocated = true;
  ct->t.on_free = &free_chan_timer;
  ct->t.refs.store(1, std::memory_order_relaxed);  // the owner's
  ct->t.f = &fire_send;
  if (with_chan) ct->c = chan_make(&ops_of<tp>::value, 1);
  return ct;
}

std::int64_t to_ns(clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

void arm_after(chan_timer* ct, clock::duration d) {
  std::int64_t ns = to_ns(d);
  ct->t.mu.lock();
  timer_arm(&ct->t, nanotime() + (ns > 0 ? ns : 0));
  ct->t.mu.unlock();
}

// Go 1.23: after stop/reset no stale value is received. t->mu held.
void drain(chan_timer* ct) {
  if (ct->c == nullptr) return;
  alignas(tp) unsigned char buf[sizeof(tp)];
  chan_try_recv(ct->c, buf);
}

bool stop_timer(chan_timer* ct, bool drain_chan) {
  ct->t.mu.lock();
  bool was = timer_disarm(&ct->t);
  if (drain_chan) drain(ct);
  ct->t.mu.unlock();
  return was;
}

recv_chan<tp> handle_of(hchan* c) { return recv_chan<tp>(retain_raw_t{}, c); }

}  // namespace
}  // namespace goro::detail

namespace goro {

using namespace detail;

void sleep(clock::duration d) { sleep_ns(to_ns(d)); }

recv_chan<clock::time_point> after(clock::duration d) {
  chan_timer* ct = new_chan_timer(true);
  recv_chan<tp> c = handle_of(ct->c);
  arm_after(ct, d);
  timer_release(&ct->t);  // no owner: the armed reference keeps it until it fires
  return c;
}

recv_chan<clock::time_point> tick(clock::duration d) {
  if (d <= clock::duration::zero()) return {};
  chan_timer* ct = new_chan_timer(true);
  ct->owned_by_tick = true;
  ct->t.period = to_ns(d);
  recv_chan<tp> c = handle_of(ct->c);
  arm_after(ct, d);
  timer_release(&ct->t);
  return c;
}

timer::timer(clock::duration d) : t_(new_chan_timer(true)) { arm_after(t_, d); }
timer::timer(timer&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
timer& timer::operator=(timer&& o) noexcept {
  if (this != &o) {
    this->~timer();
    t_ = std::exchange(o.t_, nullptr);
  }
  return *this;
}
timer::~timer() {
  if (t_ == nullptr) return;
  stop_timer(t_, false);
  timer_release(&t_->t);
  t_ = nullptr;
}
recv_chan<clock::time_point> timer::c() const {
  return t_ && t_->c ? handle_of(t_->c) : recv_chan<tp>();
}
bool timer::stop() { return t_ ? stop_timer(t_, true) : false; }
bool timer::reset(clock::duration d) {
  if (t_ == nullptr) return false;
  std::int64_t ns = to_ns(d);
  std::int64_t when = nanotime() + (ns > 0 ? ns : 0);
  t_->t.mu.lock();
  // Nothing fires while we hold mu (a runner must take it), so draining
  // after the re-arm still leaves no stale value behind (Go 1.23).
  bool was = timer_rearm(&t_->t, when);
  drain(t_);
  t_->t.mu.unlock();
  return was;
}

timer after_func(clock::duration d, std::function<void()> f) {
  chan_timer* ct = new_chan_timer(false);
  ct->func = std::move(f);
  ct->t.f = &fire_func;
  arm_after(ct, d);
  return timer(ct);
}

ticker::ticker(clock::duration d) {
  if (d <= clock::duration::zero()) throw panic_error("non-positive interval for ticker");
  t_ = new_chan_timer(true);
  t_->t.period = to_ns(d);
  arm_after(t_, d);
}
ticker::ticker(ticker&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
ticker& ticker::operator=(ticker&& o) noexcept {
  if (this != &o) {
    this->~ticker();
    t_ = std::exchange(o.t_, nullptr);
  }
  return *this;
}
ticker::~ticker() {
  if (t_ == nullptr) return;
  stop_timer(t_, false);
  timer_release(&t_->t);
  t_ = nullptr;
}
recv_chan<clock::time_point> ticker::c() const { return t_ ? handle_of(t_->c) : recv_chan<tp>(); }
void ticker::stop() {
  if (t_) stop_timer(t_, true);
}
void ticker::reset(clock::duration d) {
  if (d <= clock::duration::zero()) throw panic_error("non-positive interval for ticker.reset");
  if (t_ == nullptr) return;
  std::int64_t when = nanotime() + to_ns(d);
  t_->t.mu.lock();
  t_->t.period = to_ns(d);
  timer_rearm(&t_->t, when);
  drain(t_);
  t_->t.mu.unlock();
}

}  // namespace goro
