// A bounded Chase–Lev work-stealing deque (Chase & Lev, SPAA 2005; the C11
// formulation of Lê, Pop, Cohen & Zappa Nardelli, PPoPP 2013), used per P for
// fork-join continuations (src/fork_join.cpp).
//
// One owner pushes and pops at the bottom (LIFO); any number of thieves steal
// at the top (FIFO: the oldest item, in fork-join the biggest remaining work).
//
// Invariants:
//   - top and bottom only grow, except that pop() decrements bottom while it
//     claims the last slot and restores it if a thief won (they are 64-bit:
//     they never wrap).
//   - Items in [top, bottom) are present. bottom is written by the owner only;
//     top is advanced only by a successful CAS (a thief, or the owner taking
//     the last item), so each item is taken by exactly one pop or steal.
//   - bottom - top <= Capacity: push() refuses an item instead of growing, so
//     a slot is never reused while a thief may still claim it (a thief may
//     read a slot just overwritten by the owner, but its CAS of top then fails
//     and it discards what it read; slots are atomics so that read is no race).
//   - An item becomes visible to thieves by push's release store of bottom:
//     everything the owner wrote before push (a G's saved context) happens
//     before a thief's use of the stolen item. Every store of bottom is at
//     least a release (C++20 release sequences no longer include later plain
//     stores), so a thief synchronizes with the owner whichever value it reads.
//
// Memory orders: the two places the proof needs a StoreLoad barrier (pop's
// store of bottom before its load of top; steal's load of top before its load
// of bottom) are seq_cst operations rather than the paper's seq_cst fences, so
// that ThreadSanitizer, which does not model standalone fences, understands
// them. All accesses of top and bottom in pop/steal being seq_cst, the single
// total order S makes the paper's argument go through: if a thief and the
// owner both go for the item at index b, either the thief's load of bottom
// sees the owner's decrement (the thief sees the deque empty), or the owner's
// later load of top sees at least the thief's value of top, so both see
// t == b and race for it with a CAS of top.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace goro::detail {

template <class T, std::size_t Capacity>
class wsdeque {
  static_assert(std::is_trivially_copyable_v<T>, "slots are std::atomic<T>");
  static_assert(Capacity > 0 && (Capacity & (Capacity - 1)) == 0,
                "Capacity must be a power of two (index masking)");

 public:
  static constexpr std::size_t capacity = Capacity;

  // Owner only. False (and nothing pushed) when the deque is full.
  bool push(T x) noexcept {
    std::int64_t b = bottom_.load(std::memory_order_relaxed);
    std::int64_t t = top_.load(std::memory_order_acquire);
    if (b - t >= static_cast<std::int64_t>(Capacity)) return false;
    slot(b).store(x, std::memory_order_relaxed);
    bottom_.store(b + 1, std::memory_order_release);
    return true;
  }

  // Owner only. The newest item, or T{} when empty.
  T pop() noexcept {
    std::int64_t b = bottom_.load(std::memory_order_relaxed);
    // Fast exit without the seq_cst store: bottom is ours, and top only grows,
    // so a deque seen empty here stays empty until our next push.
    if (b == top_.load(std::memory_order_relaxed)) return T{};
    b -= 1;
    bottom_.store(b, std::memory_order_seq_cst);
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    if (t > b) {  // a thief took the last item meanwhile
      bottom_.store(b + 1, std::memory_order_release);
      return T{};
    }
    T x = slot(b).load(std::memory_order_relaxed);
    if (t == b) {  // the last item: race the thieves for it
      if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                        std::memory_order_relaxed))
        x = T{};
      bottom_.store(b + 1, std::memory_order_release);
    }
    return x;
  }

  // Any thread. The oldest item, or T{} when empty or when another thief (or
  // the owner, for the last item) won the race for it.
  T steal() noexcept {
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    if (t >= b) return T{};
    T x = slot(t).load(std::memory_order_relaxed);
    if (!top_.compare_exchange_strong(t, t + 1, std::memory_order_seq_cst,
                                      std::memory_order_relaxed))
      return T{};
    return x;
  }

  // Any thread; a snapshot. Seq_cst so that an M about to park, which
  // published itself idle with a seq_cst operation, cannot miss an item
  // whose pusher then looked for idle Ps after a seq_cst fence.
  bool empty() const noexcept {
    std::int64_t t = top_.load(std::memory_order_seq_cst);
    std::int64_t b = bottom_.load(std::memory_order_seq_cst);
    return b <= t;
  }

  // Any thread; a racy snapshot for statistics.
  std::size_t size() const noexcept {
    std::int64_t b = bottom_.load(std::memory_order_relaxed);
    std::int64_t t = top_.load(std::memory_order_relaxed);
    return b > t ? static_cast<std::size_t>(b - t) : 0;
  }

 private:
  std::atomic<T>& slot(std::int64_t i) noexcept {
    return buf_[static_cast<std::size_t>(i) & (Capacity - 1)];
  }

  alignas(64) std::atomic<std::int64_t> top_{0};     // thieves' end
  alignas(64) std::atomic<std::int64_t> bottom_{0};  // owner's end
  std::atomic<T> buf_[Capacity] = {};
};

}  // namespace goro::detail
