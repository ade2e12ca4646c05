// Test-only view of runtime internals (Go's export_test.go). Tests include
// this; nothing else may.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime.hpp"
#include "stack.hpp"

namespace goro {
class context;
}

namespace goro::detail {

struct sched_counters {
  std::uint64_t spills;  // local run queue overflows (half moved to the global queue)
  std::uint64_t steals;  // Gs taken from another P's queue
  int threads;           // Ms ever started
  int idle_threads;      // Ms parked in the idle pool
  int idle_procs;
  int spinning;
  int global_runq;
  std::uint64_t cont_steals;  // fork-join continuations taken from another P's deque
  // Ps sysmon handed off from an M stuck 10 ms in user code (which then runs
  // on without a P: more goroutines run at once than there are Ps).
  std::uint64_t running_handoffs;
};
sched_counters sched_statistics();
// The current M's runtime-section depth (0 in user code), or -1 on a plain
// thread.
int runtime_depth();
// Peak live goroutines: begin starts counting goroutine starts minus exits
// from zero; end stops and returns the highest value reached (so: the most
// goroutines alive at once beyond those alive at begin). Costs a shared
// atomic per spawn and exit while on; not for concurrent use.
void goroutine_peak_begin();
std::size_t goroutine_peak_end();

// ---- stacks (src/stack.cpp) ----
// How many stacks may get a guard page (two more mappings each): a quarter
// of vm.max_map_count.
std::size_t stack_guard_budget();

// ---- sync (src/sema.cpp, src/pool.cpp) ----
// Goroutines and threads queued on the runtime semaphore at addr.
int sema_waiters(const std::atomic<std::uint32_t>* addr);
// Stops (true) or resumes the pools' background cleanup; waits out a run in
// progress, so that a test can age objects with goro::pool_cleanup() alone.
void pool_pause_background_cleanup(bool paused);

// ---- errors (src/error.cpp) ----
// Which unwinder captures error stacks: "libunwind" (unw_backtrace from
// libunwind.so.8, loaded privately) or "libgcc" (_Unwind_Backtrace; the
// fallback, or forced with GORO_ERROR_UNWINDER=libgcc).
const char* error_unwinder();

// ---- context (src/context.cpp) ----
// Cancelers (derived contexts, after_func registrations) linked to ctx's
// cancellation state now; 0 for a context that can never be cancelled.
std::size_t context_children(const goro::context& ctx);

}  // namespace goro::detail
