// The sync package's slow paths: mutex, rw_mutex, wait_group, cond (Go's
// src/sync/mutex.go, rwmutex.go, waitgroup.go, cond.go). They block only
// through the runtime semaphore (sema.hpp) and notify list (notify_list.hpp).
#include <goro/panic.hpp>
#include <goro/sync.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "notify_list.hpp"
#include "runtime.hpp"
#include "sema.hpp"

namespace goro {

using namespace detail;

namespace {

// ---- mutex state word (see the field comment in <goro/sync/mutex.hpp>) -------
constexpr std::uint32_t mutex_locked = 1;
constexpr std::uint32_t mutex_woken = 2;
constexpr std::uint32_t mutex_starving = 4;
constexpr int mutex_waiter_shift = 3;
constexpr std::uint32_t mutex_waiter = 1u << mutex_waiter_shift;
// A waiter blocked longer than this switches the mutex to starvation mode.
constexpr std::int64_t starvation_threshold_ns = 1'000'000;

std::uint32_t waiters(std::uint32_t state) { return state >> mutex_waiter_shift; }

// A contended locker spins in rounds of 30, 60, 120, 240 and 480 pauses and
// reads the state once per round; Go spins 4 rounds of 30. Where a pause takes
// ~30 ns (measured on this project's VM), Go's 120 pauses last
// ~4 us: too short to catch a holder that relocks at once, so the locker parks,
// its P idles, and the park, wake-up and steal cost more than the spin would
// have. Fewer reads also leave the holder's cache line alone for longer.
// mutex8 (8 goroutines, one mutex), same runs, base = 4 x 30 pauses:
//   2-core VM, 2 Ps:           base 42 ns, doubling rounds 29-31, Go 36
//   16-core Xeon, 4/8/16 Ps:   base 190/175/179, 5 rounds 106/94/93, Go 170/168/163
//   16-core Xeon, 2 Ps:        base 118, 5 rounds 80, Go 77
// (docs/bench/device-m8-16core-xeon.txt; docs/sync.md.) The burnt time costs
// nothing the P would otherwise do: spinning requires an empty local run queue
// (sync_can_spin), and an idle P's M spins looking for work for 50 us anyway.
constexpr int mutex_spin_rounds = 5;

// Go's procyield(active_spin_cnt): 30 pause instructions, times 2^round.
void do_spin(int round) {
  for (int i = 0; i < (30 << round); ++i) cpu_relax();
}

// Corrupted internal state (Go's throw): not recoverable.
[[noreturn]] void fatal(const char* what) {
  std::fprintf(stderr, "fatal error: %s\n", what);
  std::abort();
}

}  // namespace

// ---- mutex ---------------------------------------------------------------------

bool mutex::try_lock() noexcept {
  std::uint32_t old = state_.load(std::memory_order_relaxed);
  if ((old & (mutex_locked | mutex_starving)) != 0) return false;
  // A woken waiter or a spinner may take it first: then we fail, as Go does.
  return state_.compare_exchange_strong(old, old | mutex_locked, std::memory_order_acquire,
                                        std::memory_order_relaxed);
}

void mutex::lock_slow() {
  std::int64_t wait_start = 0;
  bool starving = false;  // this locker has waited over the threshold
  bool awoke = false;     // this locker owns the woken bit
  int iter = 0;
  std::uint32_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    // Spin only in normal mode, while the holder probably runs elsewhere: in
    // starvation mode the mutex goes to the first waiter anyway.
    if ((old & (mutex_locked | mutex_starving)) == mutex_locked &&
        sync_can_spin(iter, mutex_spin_rounds)) {
      // Set the woken bit so that unlock does not wake a parked waiter
      // while we are about to take the mutex ourselves.
      if (!awoke && (old & mutex_woken) == 0 && waiters(old) != 0 &&
          state_.compare_exchange_strong(old, old | mutex_woken, std::memory_order_relaxed))
        awoke = true;
      do_spin(iter);
      ++iter;
      old = state_.load(std::memory_order_relaxed);
      continue;
    }
    std::uint32_t next = old;
    // Newcomers do not take a starving mutex: they queue.
    if ((old & mutex_starving) == 0) next |= mutex_locked;
    if ((old & (mutex_locked | mutex_starving)) != 0) next += mutex_waiter;
    // Switch to starvation mode, unless the mutex was just unlocked (unlock
    // expects a starving mutex to have waiters, which might then not hold).
    if (starving && (old & mutex_locked) != 0) next |= mutex_starving;
    if (awoke) {
      // We were woken (or claimed the bit spinning): clear it in any case.
      if ((next & mutex_woken) == 0) fatal("sync: inconsistent mutex state");
      next &= ~mutex_woken;
    }
    if (!state_.compare_exchange_weak(old, next, std::memory_order_acq_rel,
                                      std::memory_order_relaxed))
      continue;  // old reloaded
    if ((old & (mutex_locked | mutex_starving)) == 0) return;  // locked by our CAS
    // Queued. A waiter that was woken and lost the race goes back to the front.
    bool lifo = wait_start != 0;
    if (wait_start == 0) wait_start = nanotime();
    semacquire(&sema_, lifo, wait_reason::sync_mutex);
    starving = starving || nanotime() - wait_start > starvation_threshold_ns;
    old = state_.load(std::memory_order_relaxed);
    if ((old & mutex_starving) != 0) {
      // Handed to us: the locked bit is clear and we are still counted as a
      // waiter. Fix both in one step.
      if ((old & (mutex_locked | mutex_woken)) != 0 || waiters(old) == 0)
        fatal("sync: inconsistent mutex state");
      std::uint32_t delta = mutex_locked - mutex_waiter;  // mod 2^32
      // Leave starvation mode if we did not starve or are the last waiter:
      // two goroutines could otherwise hand the mutex back and forth forever.
      if (!starving || waiters(old) == 1) delta -= mutex_starving;
      state_.fetch_add(delta, std::memory_order_acq_rel);
      return;
    }
    awoke = true;
    iter = 0;
  }
}

void mutex::unlock_slow(std::uint32_t old) {
  // The fast path failed: there are waiters, a woken locker, or starvation
  // mode (or the mutex is not locked at all). Unlock and claim the right to
  // wake a waiter in one CAS, so that once the mutex is free we touch nothing
  // but sema_, and that only while the claimed waiter keeps the mutex alive.
  for (;;) {
    if ((old & mutex_locked) == 0) throw panic_error("sync: unlock of unlocked mutex");
    std::uint32_t next = old & ~mutex_locked;
    bool wake = false;
    if ((old & mutex_starving) == 0 && waiters(old) != 0 && (old & mutex_woken) == 0) {
      next = (next - mutex_waiter) | mutex_woken;
      wake = true;
    }
    if (!state_.compare_exchange_weak(old, next, std::memory_order_release,
                                      std::memory_order_relaxed))
      continue;
    if ((old & mutex_starving) != 0) {
      // Hand the mutex to the first waiter: the locked bit stays clear until
      // it runs, but the starving bit keeps newcomers out meanwhile.
      semrelease(&sema_, /*handoff=*/true);
    } else if (wake) {
      semrelease(&sema_, /*handoff=*/false);
    }
    return;
  }
}

// ---- rw_mutex ------------------------------------------------------------------

// Reader slots. Go's readers all add to and subtract from one counter, and
// that cache line moves between every two read locks on different threads (at
// 2 Ps, 8 readers and a writer ran at ~35 ns per read lock against ~6 on one
// P). Here a goroutine's read lock goes into one of its M's slots: a cache
// line that only that thread writes (while it runs one goroutine at a time),
// so read locks on different threads touch no common line but the read-mostly
// reader_count_. Slots belong to Ms, not Ps: an M whose P sysmon handed off
// keeps running its goroutine beside the P's new M, and the two must not share
// slots. The count of read holders is reader_count_ (less max_readers while a
// writer is in) plus the slots holding the lock; holders are interchangeable,
// so an unlock_shared() may empty any slot that holds its lock, or else takes
// one off the counter.
//
// Writer against reader is Dekker's pattern over seq_cst operations: a reader
// fills a slot, then reads reader_count_; a writer subtracts max_readers from
// reader_count_, then reads the slots. Either the reader sees the writer (and
// empties its slot again, or finds the writer already moved it: then it holds
// the lock, counted as a reader the writer waits for), or the writer sees the
// slot and moves it into reader_count_ (claim_reader_slots), so the reader is
// counted among those the writer waits for, exactly as a Go reader that got
// in before the writer.
namespace {

struct alignas(64) reader_slot {
  std::atomic<const void*> lock{nullptr};  // the rw_mutex read-held here, or null
};
constexpr int reader_slots_per_m = 4;
constexpr int reader_slot_count = 256;  // Ms 64 apart share slots: still correct
reader_slot reader_slots[reader_slot_count];

// Slots in use at most: those of every M ever started.
int reader_slot_limit() {
  return std::min(reader_slot_count,
                  reader_slots_per_m * (threads_started() + 1));
}

// The first of this thread's slots, or -1 (a plain thread).
int my_reader_slots() {
  M* m = current_m();
  if (m == nullptr) return -1;
  return (m->id * reader_slots_per_m) % reader_slot_count;
}

bool empty_slot_holding(reader_slot& slot, const void* mu) {
  const void* held = mu;
  return slot.lock.load(std::memory_order_relaxed) == mu &&
         slot.lock.compare_exchange_strong(held, nullptr, std::memory_order_seq_cst);
}

}  // namespace

void rw_mutex::lock_shared_slotted() {
  if (int base = my_reader_slots(); base >= 0 && reader_count_.load(std::memory_order_seq_cst) >= 0) {
    // Set before any slot holds this lock, in the seq_cst order too: a writer
    // that reads it false after announcing itself finds no slot to claim, and
    // whoever unlocks a read lock taken here sees it.
    if (!slotted_.load(std::memory_order_relaxed)) slotted_.store(true, std::memory_order_seq_cst);
    for (int k = 0; k < reader_slots_per_m; ++k) {
      auto& slot = reader_slots[base + k].lock;
      const void* none = nullptr;
      if (slot.load(std::memory_order_relaxed) != nullptr ||
          !slot.compare_exchange_strong(none, this, std::memory_order_seq_cst))
        continue;
      if (reader_count_.load(std::memory_order_seq_cst) >= 0) return;  // no writer in
      // A writer came in: empty the slot and queue behind it, as Go's readers
      // do. If the writer has already moved the slot into reader_count_, it
      // counts this reader as one that got in first: hold the lock.
      if (!empty_slot_holding(reader_slots[base + k], this)) return;
      break;
    }
  }
  if (reader_count_.fetch_add(1, std::memory_order_seq_cst) < 0) lock_shared_slow();
}

void rw_mutex::unlock_shared_slotted() {
  // Any slot holding this lock will do (holders are interchangeable): this
  // M's first, then all of them (a reader that parked and moved, a lock
  // released by another goroutine, a reader counted in reader_count_ while
  // other readers sit in slots).
  // (unlock_shared() comes here only once slotted_ is set: while it reads
  // false, no slot lock taken before the unlock, in its happens-before past,
  // exists, so the holder was counted in reader_count_.)
  const int base = my_reader_slots();
  if (base >= 0)
    for (int k = 0; k < reader_slots_per_m; ++k)
      if (empty_slot_holding(reader_slots[base + k], this)) return;
  const int limit = reader_slot_limit();
  for (int i = 0; i < limit; ++i)
    if ((base < 0 || i < base || i >= base + reader_slots_per_m) &&
        empty_slot_holding(reader_slots[i], this))
      return;
  if (std::int32_t r = reader_count_.fetch_sub(1, std::memory_order_seq_cst) - 1; r < 0)
    unlock_shared_slow(r);
}

// Moves every slot holding this lock into reader_count_ and returns how many.
// Called by a writer that has made reader_count_ negative: no reader fills a
// slot for this lock from then on and stays. The count goes up before the
// slot empties, so that a reader who departs at once never takes
// reader_count_ below what unlock_shared_slow's misuse check expects.
std::int32_t rw_mutex::claim_reader_slots() {
  std::int32_t n = 0;
  if (!slotted_.load(std::memory_order_seq_cst)) return 0;
  const int limit = reader_slot_limit();
  for (int i = 0; i < limit; ++i) {
    if (reader_slots[i].lock.load(std::memory_order_seq_cst) != this) continue;
    reader_count_.fetch_add(1, std::memory_order_seq_cst);
    if (empty_slot_holding(reader_slots[i], this)) ++n;
    else reader_count_.fetch_sub(1, std::memory_order_seq_cst);  // it departed meanwhile
  }
  return n;
}

void rw_mutex::lock_shared_slow() {
  // A writer is pending: wait until its unlock() releases us. Writers' critical
  // sections are often short, so first spin as mutex does (and under the same
  // rules) for the release, which costs no park, no wake-up and no
  // trip through the semaphore's lock.
  for (int iter = 0; sync_can_spin(iter, mutex_spin_rounds); ++iter) {
    do_spin(iter);  // mutex's doubling rounds (see mutex_spin_rounds)
    if (semtryacquire(&reader_sem_)) return;
  }
  semacquire(&reader_sem_, false, wait_reason::sync_rw_mutex_r);
}

bool rw_mutex::try_lock_shared() noexcept {
  std::int32_t c = reader_count_.load(std::memory_order_seq_cst);
  for (;;) {
    if (c < 0) return false;  // a writer holds or waits for the lock
    if (reader_count_.compare_exchange_weak(c, c + 1, std::memory_order_seq_cst)) return true;
  }
}

void rw_mutex::unlock_shared_slow(std::int32_t r) {
  if (r + 1 == 0 || r + 1 == -max_readers) {
    reader_count_.fetch_add(1, std::memory_order_seq_cst);  // undo, for a catcher's sake
    throw panic_error("sync: RUnlock of unlocked RWMutex");
  }
  // A writer is pending: the last departing reader it waits for wakes it.
  if (reader_wait_.fetch_sub(1, std::memory_order_seq_cst) - 1 == 0)
    semrelease(&writer_sem_, false);
}

void rw_mutex::lock() {
  w_.lock();  // first, resolve competition with other writers
  // Announce the writer to readers; r: readers that already hold the lock,
  // in reader_count_ and in slots.
  std::int32_t r = reader_count_.fetch_sub(max_readers, std::memory_order_seq_cst);
  r += claim_reader_slots();
  // Wait for them to depart (reader_wait_ may already have gone negative as
  // they departed before we added r).
  if (r != 0 && reader_wait_.fetch_add(r, std::memory_order_seq_cst) + r != 0)
    semacquire(&writer_sem_, false, wait_reason::sync_rw_mutex_w);
}

bool rw_mutex::try_lock() noexcept {
  if (!w_.try_lock()) return false;
  std::int32_t zero = 0;
  if (!reader_count_.compare_exchange_strong(zero, -max_readers, std::memory_order_seq_cst)) {
    w_.unlock();
    return false;
  }
  if (slotted_.load(std::memory_order_seq_cst)) {  // as in claim_reader_slots
    const int limit = reader_slot_limit();
    for (int i = 0; i < limit; ++i) {
      if (reader_slots[i].lock.load(std::memory_order_seq_cst) == this) {
        // Read-held through a slot: back out. Readers that saw us meanwhile
        // queued; let them go as unlock() does.
        release_queued_readers();
        return false;
      }
    }
  }
  return true;
}

void rw_mutex::unlock() { release_queued_readers(); }

// Announces to readers there is no active writer, releases those that queued
// behind it, all in one semaphore step, and lets other writers in.
void rw_mutex::release_queued_readers() {
  std::int32_t r = reader_count_.fetch_add(max_readers, std::memory_order_seq_cst) + max_readers;
  if (r >= max_readers) {
    reader_count_.fetch_sub(max_readers, std::memory_order_seq_cst);  // undo
    throw panic_error("sync: Unlock of unlocked RWMutex");
  }
  semrelease_n(&reader_sem_, static_cast<std::uint32_t>(r));
  w_.unlock();
}

// ---- wait_group ----------------------------------------------------------------

void wait_group::add(int delta) {
  const std::uint64_t d = static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << 32;
  const std::uint64_t state = state_.fetch_add(d, std::memory_order_seq_cst) + d;
  const auto v = static_cast<std::int32_t>(state >> 32);  // counter
  const auto w = static_cast<std::uint32_t>(state);       // waiters
  if (v < 0) {
    state_.fetch_sub(d, std::memory_order_seq_cst);  // undo, for a catcher's sake
    throw panic_error("sync: negative WaitGroup counter");
  }
  if (w != 0 && delta > 0 && v == delta)
    throw panic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  if (v > 0 || w == 0) return;
  // We took the counter to zero with waiters present. Now nothing else may
  // change the state: adds must not race with wait, and wait does not count
  // itself in once it sees zero. Check cheaply for misuse anyway.
  if (state_.load(std::memory_order_seq_cst) != state)
    throw panic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  state_.store(0, std::memory_order_seq_cst);
  // The last touch of *this: the released waiters may destroy it at once.
  semrelease_n(&sema_, w);
}

void wait_group::wait() {
  std::uint64_t state = state_.load(std::memory_order_seq_cst);
  for (;;) {
    if (static_cast<std::int32_t>(state >> 32) == 0) return;
    if (state_.compare_exchange_weak(state, state + 1, std::memory_order_seq_cst)) {
      semacquire(&sema_, false, wait_reason::sync_wait_group);
      if (state_.load(std::memory_order_seq_cst) != 0)
        throw panic_error("sync: WaitGroup is reused before previous Wait has returned");
      return;
    }
  }
}

// ---- cond ----------------------------------------------------------------------

namespace {
notify_list* as_list(unsigned char* storage) {
  return std::launder(reinterpret_cast<notify_list*>(storage));
}
}  // namespace

cond::cond(mutex& m) noexcept : l_(&m) {
  static_assert(sizeof(notify_list) <= sizeof(notify_) && alignof(notify_list) <= alignof(cond),
                "cond::notify_ must hold a detail::notify_list");
  ::new (static_cast<void*>(notify_)) notify_list;
}

cond::~cond() { as_list(notify_)->~notify_list(); }

void cond::wait() {
  // Take a ticket while still holding the lock: a signal after our unlock
  // (even before we park) is then ours to receive.
  std::uint32_t t = notify_list_add(as_list(notify_));
  l_->unlock();
  notify_list_wait(as_list(notify_), t);
  l_->lock();
}

void cond::signal() noexcept { notify_list_notify_one(as_list(notify_)); }
void cond::broadcast() noexcept { notify_list_notify_all(as_list(notify_)); }

}  // namespace goro
