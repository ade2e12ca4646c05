// Timers (API.md §7; Go's time.Sleep, After, Tick, Timer, Ticker, AfterFunc),
// with Go 1.23 semantics.
//
// Timers run inside the scheduler (src/timer.hpp): no thread per timer, no
// polling; an idle M sleeps exactly until the earliest one.
//
// * After stop() or reset() returns, no value from before the call can be
//   received from c(): a value already sitting in the channel is discarded.
// * timer and ticker are move-only owners. Destroying one, or move-assigning
//   over it, stops it (its channel is not closed, as Go's Stop does not).
//   A moved-from owner owns nothing.
// * after() and tick() keep their timer alive until it fires (after), or while
//   anybody still holds the channel (tick; Go 1.23 collects an unreferenced
//   ticker, goro notices at the next tick that only the timer holds it).
// * A tick that finds the previous one still unreceived is dropped, as in Go.
#pragma once

#include <functional>

#include <goro/chan.hpp>
#include <goro/clock.hpp>

namespace goro {

namespace detail {
struct chan_timer;
}

// Parks the calling goroutine for d (blocks a plain thread). d <= 0 returns at once.
void sleep(clock::duration d);

// A channel that receives the time once, after d.
recv_chan<clock::time_point> after(clock::duration d);
// A channel that receives the time every d. d <= 0: the nil channel (as Go).
recv_chan<clock::time_point> tick(clock::duration d);

class timer {
 public:
  // Sends the current time on c() after d (d <= 0: at once).
  explicit timer(clock::duration d);
  timer(timer&& o) noexcept;
  timer& operator=(timer&& o) noexcept;
  timer(const timer&) = delete;
  timer& operator=(const timer&) = delete;
  ~timer();

  recv_chan<clock::time_point> c() const;  // nil for an after_func timer
  // Prevents the timer from firing. true if this call stopped it, false if it
  // had already fired or been stopped.
  bool stop();
  // Re-arms the timer to fire after d. Returns what stop() would have.
  bool reset(clock::duration d);

 private:
  friend timer after_func(clock::duration d, std::function<void()> f);
  explicit timer(detail::chan_timer* t) noexcept : t_(t) {}
  detail::chan_timer* t_ = nullptr;
};

class ticker {
 public:
  // Sends the current time on c() every d. d <= 0: panic_error (as Go).
  explicit ticker(clock::duration d);
  ticker(ticker&& o) noexcept;
  ticker& operator=(ticker&& o) noexcept;
  ticker(const ticker&) = delete;
  ticker& operator=(const ticker&) = delete;
  ~ticker();

  recv_chan<clock::time_point> c() const;
  void stop();
  // Stops the ticker and restarts it with period d. d <= 0: panic_error.
  void reset(clock::duration d);

 private:
  detail::chan_timer* t_ = nullptr;
};

// Runs f in its own goroutine after d. The returned timer owns it: keep it
// while f should still run (destroying it stops it, per the API contract).
[[nodiscard]] timer after_func(clock::duration d, std::function<void()> f);

}  // namespace goro
