// goro::wait_group — Go's sync.WaitGroup (API.md §4).
#pragma once

#include <atomic>
#include <cstdint>
#include <type_traits>
#include <utility>

#include <goro/runtime.hpp>

namespace goro {

// wait_group
//
// Waits for a collection of goroutines (or threads, or any events) to finish.
// add(n) before starting the work, done() when each piece finishes, wait() to
// block until the counter is zero; or go(f), which does all three for f.
// Any number of goroutines and threads may wait() at once; all are released
// when the counter reaches zero. A waiting goroutine parks; a plain thread
// sleeps.
//
// Reuse: once every wait() of one round has returned, the wait_group may be
// used for another round. A positive add() that starts from zero must happen
// before the wait() it is meant to hold back (typically: add before go).
//
// Lifetime: the wait_group may be destroyed as soon as wait() returns (to the
// last of its waiters), even while the done() that released it is still
// returning: done() touches the object no more after it wakes the waiters.
//
// Misuse (goro::panic_error, fatal if it escapes a goroutine):
//  - the counter goes negative: "sync: negative WaitGroup counter";
//  - add() with a positive delta from zero races with wait(), or add() runs
//    while the releasing done() is still waking the waiters: "sync: WaitGroup
//    misuse: Add called concurrently with Wait" (diagnosed where seen, as Go);
//  - a new round starts before a wait() of the old one has returned: "sync:
//    WaitGroup is reused before previous Wait has returned" (thrown by wait).
//
// Memory ordering: every done() (and add(), including a negative one)
// synchronizes with the return of any wait() that it unblocks, or that
// observes the counter at zero after it; so what a goroutine did before
// done() is visible after wait().
class wait_group {
 public:
  constexpr wait_group() noexcept = default;
  wait_group(const wait_group&) = delete;
  wait_group& operator=(const wait_group&) = delete;

  // Adds delta (may be negative) to the counter. Reaching zero releases all
  // waiters.
  void add(int delta);
  void done() { add(-1); }
  // Blocks until the counter is zero. Returns at once if it is zero now.
  void wait();

  // add(1), then runs f in a new goroutine and calls done() when it returns.
  // f is decay-copied into the goroutine and destroyed before done(), so
  // whatever it captured is released by the time wait() returns. (An
  // exception escaping f is a panic, fatal for the process, as for goro::go.)
  template <class F>
  void go(F&& f) {
    add(1);
    goro::go([wg = this, fn = std::decay_t<F>(std::forward<F>(f))]() mutable {
      struct done_guard {
        wait_group* wg;
        ~done_guard() noexcept(false) { wg->done(); }
      } guard{wg};
      std::decay_t<F> local(std::move(fn));  // destroyed before guard runs done()
      local();
    });
  }

 private:
  // High 32 bits: the counter (signed). Low 32 bits: waiters blocked in wait().
  // Invariant: waiters are counted only while the counter is > 0; the add()
  // that makes the counter zero resets the whole word to 0 before it wakes.
  std::atomic<std::uint64_t> state_{0};
  // Runtime semaphore the waiters park on (src/sema.hpp).
  std::atomic<std::uint32_t> sema_{0};
};

}  // namespace goro
