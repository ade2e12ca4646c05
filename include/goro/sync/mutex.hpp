// goro::mutex — Go's sync.Mutex (API.md §4).
#pragma once

#include <atomic>
#include <cstdint>

namespace goro {

// mutex
//
// A mutual-exclusion lock for goroutines and plain threads alike. The zero
// state is unlocked; it is constant-initialisable, so a namespace-scope mutex
// needs no static-initialisation order care. Meets the standard Lockable
// requirements: use it with std::lock_guard, std::unique_lock, std::scoped_lock.
//
// lock() blocks until the mutex is free: a goroutine parks (its OS thread runs
// other goroutines), a plain thread sleeps. Uncontended, lock() and unlock()
// are one compare-and-swap each. Contended, a locker spins a while if the
// holder is probably running on another processor and the locker's processor
// has nothing else to run (Go's canSpin), then parks (docs/sync.md).
//
// Fairness (Go's starvation mode): normally a woken waiter competes with newly
// arriving lockers, which usually win (they are already running): best
// throughput. A waiter that has waited over 1 ms switches the mutex to
// starvation mode, in which unlock hands the mutex directly to the longest
// waiter and newcomers queue behind. The mode ends when a waiter that gets the
// mutex is the last one, or waited under 1 ms. So no locker waits forever,
// even against a goroutine that locks in a tight loop.
//
// Unlike std::mutex, a mutex is not tied to a goroutine or thread: one may
// lock it and another unlock it (as in Go). It is not recursive: locking it
// twice from one goroutine deadlocks that goroutine.
//
// Misuse: unlock() of an unlocked mutex throws goro::panic_error("sync: unlock
// of unlocked mutex") — fatal when it escapes a goroutine, or a destructor
// such as std::lock_guard's (std::terminate). Destroying a locked mutex, or
// one a goroutine is blocked on, is undefined; destroying it right after the
// last unlock() returned is fine, even if other lockers just went through it.
//
// Memory ordering: the n'th call to unlock() synchronizes with (happens
// before) the return of the m'th call to lock() for n < m, as in Go's memory
// model. A successful try_lock() counts as a lock(); a failed one
// synchronizes with nothing.
class mutex {
 public:
  constexpr mutex() noexcept = default;
  mutex(const mutex&) = delete;
  mutex& operator=(const mutex&) = delete;

  void lock() {
    std::uint32_t unlocked = 0;
    if (state_.compare_exchange_strong(unlocked, locked_bit, std::memory_order_acquire,
                                       std::memory_order_relaxed))
      return;
    lock_slow();
  }

  // Takes the mutex if it is free and not reserved for a starving waiter.
  // Never blocks. May fail spuriously under contention (like Go's TryLock).
  [[nodiscard]] bool try_lock() noexcept;

  void unlock() {
    std::uint32_t held = locked_bit;
    if (state_.compare_exchange_strong(held, 0, std::memory_order_release,
                                       std::memory_order_relaxed))
      return;
    unlock_slow(held);
  }

 private:
  static constexpr std::uint32_t locked_bit = 1;

  void lock_slow();
  void unlock_slow(std::uint32_t old);

  // bit 0 locked; bit 1 woken (a waiter is awake and trying, or a spinner
  // asked unlock not to wake anyone); bit 2 starving (unlock hands the mutex to
  // the first waiter, newcomers queue); bits 3.. number of queued waiters.
  // Invariant: starving implies at least one queued waiter.
  std::atomic<std::uint32_t> state_{0};
  // Runtime semaphore the waiters park on (src/sema.hpp).
  std::atomic<std::uint32_t> sema_{0};
};

}  // namespace goro
