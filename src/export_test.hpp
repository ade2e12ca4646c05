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
};
sched_counters sched_statistics();

// ---- sync (src/sema.cpp, src/pool.cpp) ----
// Goroutines and threads queued on the runtime semaphore at addr.
int sema_waiters(const std::atomic<std::uint32_t>* addr);
// Stops (true) or resumes the pools' background cleanup; waits out a run in
// progress, so that a test can age objects with goro::pool_cleanup() alone.
void pool_pause_background_cleanup(bool paused);

// ---- context (src/context.cpp) ----
// Cancelers (derived contexts, after_func registrations) linked to ctx's
// cancellation state now; 0 for a context that can never be cancelled.
std::size_t context_children(const goro::context& ctx);

}  // namespace goro::detail
