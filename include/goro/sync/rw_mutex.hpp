// goro::rw_mutex — Go's sync.RWMutex (API.md §4).
#pragma once

#include <atomic>
#include <cstdint>

#include <goro/sync/mutex.hpp>

namespace goro {

namespace detail {
// GOMAXPROCS > 1: goroutines' read locks go into reader slots (src/sync.cpp).
extern std::atomic<bool> reader_slots_on;
}  // namespace detail

// rw_mutex
//
// A reader/writer mutual-exclusion lock: any number of readers or one writer.
// Zero state unlocked; constant-initialisable. Meets the standard Lockable and
// SharedLockable requirements: std::unique_lock / std::lock_guard for writers,
// std::shared_lock for readers. Blocking parks a goroutine and sleeps a plain
// thread, as for mutex.
//
// Writer preference (Go's rule): once a writer is waiting in lock(), new
// lock_shared() calls block until that writer has had its turn, so readers
// cannot starve writers. A consequence: a goroutine that holds a read lock
// must not call lock_shared() again expecting it to succeed (recursive read
// locking deadlocks when a writer arrives in between). Writers among
// themselves are ordered by an internal goro::mutex, so they are fair in the
// same way (starvation mode).
//
// As with mutex, a lock is not tied to the goroutine that took it.
//
// Readers scale: a goroutine's lock_shared() and unlock_shared() mark the
// lock as read-held in a slot of the thread (M) running it, a cache line no
// other thread writes, not in the shared counter, so readers on different
// threads do not contend as Go's do. A writer, after stopping new readers,
// counts the slots holding its lock into the shared counter and waits for
// those readers too. Plain threads, the fifth read lock held at once on one
// M, readers that arrive while a writer waits, and all readers while
// GOMAXPROCS is 1 (nothing to contend with; a slot costs ~5 ns more) use Go's
// shared counter.
//
// Misuse: unlock() when not write-locked throws goro::panic_error("sync:
// Unlock of unlocked RWMutex"); unlock_shared() when not read-locked throws
// goro::panic_error("sync: RUnlock of unlocked RWMutex"). Both may leave the
// lock in an unusable state (Go treats them as fatal).
//
// Memory ordering: as in Go, the n'th call to unlock() synchronizes with the
// return of the m'th call to lock() for n < m; and for any call to
// lock_shared(), there is an n such that the n'th unlock() synchronizes with
// its return, and the matching unlock_shared() synchronizes with the return
// of the (n+1)'th lock(). Successful try_ calls count as the lock they take.
class rw_mutex {
 public:
  constexpr rw_mutex() noexcept = default;
  rw_mutex(const rw_mutex&) = delete;
  rw_mutex& operator=(const rw_mutex&) = delete;

  void lock();
  [[nodiscard]] bool try_lock() noexcept;
  void unlock();

  void lock_shared() {
    if (detail::reader_slots_on.load(std::memory_order_relaxed)) lock_shared_slotted();
    else if (reader_count_.fetch_add(1, std::memory_order_seq_cst) < 0) lock_shared_slow();
  }
  [[nodiscard]] bool try_lock_shared() noexcept;
  void unlock_shared() {
    if (slotted_.load(std::memory_order_relaxed)) unlock_shared_slotted();
    else if (std::int32_t r = reader_count_.fetch_sub(1, std::memory_order_seq_cst) - 1; r < 0)
      unlock_shared_slow(r);
  }

 private:
  // More readers than this at once is unsupported (Go's rwmutexMaxReaders).
  static constexpr std::int32_t max_readers = 1 << 30;

  void lock_shared_slotted();
  void unlock_shared_slotted();
  void lock_shared_slow();
  void unlock_shared_slow(std::int32_t r);
  std::int32_t claim_reader_slots();
  void release_queued_readers();

  mutex w_;  // held by the writer that has, or is waiting for, the lock
  // Runtime semaphores (src/sema.hpp): the writer waits on writer_sem_ for
  // departing readers; readers wait on reader_sem_ for the writer.
  std::atomic<std::uint32_t> writer_sem_{0};
  std::atomic<std::uint32_t> reader_sem_{0};
  // Readers holding or waiting for the lock that are not in a reader slot
  // (src/sync.cpp); minus max_readers while a writer holds or is acquiring it
  // (so a reader seeing < 0 waits).
  std::atomic<std::int32_t> reader_count_{0};
  // Readers the acquiring writer still waits for to depart.
  std::atomic<std::int32_t> reader_wait_{0};
  // Set (for good) by the first reader that took a reader slot; until then
  // unlock_shared() looks at no slot.
  std::atomic<bool> slotted_{false};
};

}  // namespace goro
