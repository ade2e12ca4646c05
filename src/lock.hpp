// The runtime's internal mutex (Go's runtime.mutex): spins briefly, then sleeps
// the OS thread on a futex. Held only for a handful of pointer moves (a channel
// operation, a wait-queue update), never across a park: holding it while the
// goroutine is switched out would block whichever M wants it next.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace goro::detail {

class lock_t {
 public:
  void lock() noexcept {
    std::uint32_t c = 0;
    if (state_.compare_exchange_strong(c, 1, std::memory_order_acquire)) return;
    lock_slow();
  }
  bool try_lock() noexcept {
    std::uint32_t c = 0;
    return state_.compare_exchange_strong(c, 1, std::memory_order_acquire);
  }
  void unlock() noexcept {
    if (state_.exchange(0, std::memory_order_release) == 2) wake();
  }

 private:
  void lock_slow() noexcept {
    // Spin with exponential backoff: every re-read of a held lock pulls its
    // cache line away from the holder, whose unlock then has to fetch it back.
    for (int i = 0, delay = 1; i < 16; ++i) {
      std::uint32_t c = state_.load(std::memory_order_relaxed);
      if (c == 0 && state_.compare_exchange_weak(c, 1, std::memory_order_acquire)) return;
      for (int k = 0; k < delay; ++k) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
      }
      if (delay < 64) delay *= 2;
    }
    // 2: locked, and somebody may be sleeping on it.
    while (state_.exchange(2, std::memory_order_acquire) != 0)
      syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_),
              FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 2, nullptr, nullptr, 0);
  }
  void wake() noexcept {
    syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&state_), FUTEX_WAKE | FUTEX_PRIVATE_FLAG,
            1, nullptr, nullptr, 0);
  }

  // 0 unlocked, 1 locked, 2 locked with (possible) sleepers.
  std::atomic<std::uint32_t> state_{0};
};

}  // namespace goro::detail
