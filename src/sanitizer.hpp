// Sanitizer hooks around goroutine switches (PITFALLS.md "Sanitizers").
//
// Boost.Context 1.81's fcontext backend calls none of them, so goro does:
// ASan must be told which stack is live (start/finish_switch_fiber) or it
// reports false stack-buffer overflows; TSan must be told which fiber runs
// (__tsan_switch_to_fiber right before the jump) or it mixes up happens-before.
#pragma once

#include <cstddef>

#if defined(GORO_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(GORO_TSAN)
#include <sanitizer/tsan_interface.h>
#endif

namespace goro::detail::san {

#if defined(GORO_ASAN)
inline constexpr bool asan = true;
#else
inline constexpr bool asan = false;
#endif
#if defined(GORO_TSAN)
inline constexpr bool tsan = true;
#else
inline constexpr bool tsan = false;
#endif

// Poison bookkeeping of a stack that is about to be reused by another goroutine.
inline void unpoison_stack(void* lo, std::size_t size) {
#if defined(GORO_ASAN)
  __asan_unpoison_memory_region(lo, size);
#else
  (void)lo;
  (void)size;
#endif
}

}  // namespace goro::detail::san
