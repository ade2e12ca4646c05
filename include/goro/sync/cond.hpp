// goro::cond — Go's sync.Cond (API.md §4; the seed's chapter 3 "Cond").
#pragma once

#include <cstddef>

#include <goro/sync/mutex.hpp>

namespace goro {

// cond
//
// A condition variable: a rendezvous point for goroutines waiting for, or
// announcing, an event. Bound to a goro::mutex (its lock, Go's c.L), which
// must outlive it. Check the condition in a loop:
//
//     m.lock();
//     while (!condition()) c.wait();
//     ... use the condition ...
//     m.unlock();
//
// wait() atomically unlocks the mutex and parks the caller (a plain thread
// sleeps), and locks the mutex again before returning. The caller must hold
// the mutex. A wake-up means only that something happened, not that the
// condition holds: hence the loop.
//
// signal() wakes the goroutine that has waited longest (waiters are served in
// FIFO order of their wait() calls); broadcast() wakes all current waiters.
// Both may be called with or without the mutex held. A signal or broadcast
// with no waiter is not remembered: a later wait() waits for a later one.
// A waiter counts from the moment wait() is called, before it unlocks the
// mutex, so a signal sent after that (e.g. by whoever locks the mutex next)
// always reaches it.
//
// Misuse: wait() without holding the mutex throws goro::panic_error from the
// mutex's unlock ("sync: unlock of unlocked mutex"); the ticket it took then
// absorbs one later signal() (Go treats this as fatal). Destroying a cond
// while goroutines wait on it is undefined.
//
// Memory ordering: a call to signal() or broadcast() synchronizes with the
// return of any wait() call that it unblocks (and the relock of the mutex adds
// the mutex's own ordering).
class cond {
 public:
  explicit cond(mutex& m) noexcept;
  cond(const cond&) = delete;
  cond& operator=(const cond&) = delete;
  ~cond();

  void wait();
  // wait() until pred() holds; pred is evaluated with the mutex held.
  template <class Pred>
  void wait(Pred pred) {
    while (!pred()) wait();
  }
  void signal() noexcept;
  void broadcast() noexcept;

  mutex& locker() const noexcept { return *l_; }

 private:
  mutex* l_;
  // The runtime's notify list (src/notify_list.hpp), kept in place without an
  // allocation; its size and alignment are checked by static_assert there.
  alignas(8) unsigned char notify_[32];
};

}  // namespace goro
