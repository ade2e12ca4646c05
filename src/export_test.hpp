// Test-only view of runtime internals (Go's export_test.go). Tests include
// this; nothing else may.
#pragma once

#include <cstdint>

#include "runtime.hpp"
#include "stack.hpp"

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

}  // namespace goro::detail
