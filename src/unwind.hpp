// Capturing the calling thread's (or goroutine's) stack as raw return
// addresses, cheaply: what goro::error records at every creation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goro::detail {

// Stores return addresses, innermost first, into out[0..max): with skip 0,
// out[0] is where capture_stack returns to (in its caller), out[1] where that
// caller returns to, and so on; `skip` leading ones are dropped. Returns how
// many were stored. Never allocates, never symbolizes, never throws.
//
// On x86-64 Linux it walks the stack itself with the DWARF CFI of each frame
// (the same .eh_frame tables the C++ unwinder reads), caching the decoded
// rule of every return address in a process-wide table, so a warm capture
// costs a few nanoseconds per frame instead of libgcc's ~0.3 us. Anything it
// does not understand (CFA expressions, signal frames, realigned stacks)
// sends the whole capture to capture_stack_slow, which gives the same result.
std::size_t capture_stack(void** out, std::size_t max, std::size_t skip) noexcept;

// The reference: libgcc's _Unwind_Backtrace, same contract.
std::size_t capture_stack_slow(void** out, std::size_t max, std::size_t skip) noexcept;

// How many capture_stack calls took the slow path (for tests).
std::uint64_t capture_stack_fallbacks() noexcept;

}  // namespace goro::detail
