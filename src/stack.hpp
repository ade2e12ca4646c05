// Goroutine stacks: reserved in large chunks, committed lazily, pooled.
//
// Layout of one stack (addresses grow upwards):
//
//   guard page (PROT_NONE, only while the VMA budget lasts) | usable ... | stack header
//   ^ lo - page                                               ^ lo        ^ hi
//
// * Many stacks are carved out of one mmap'ed chunk, so a million stacks cost
//   a few thousand mappings, not two million (vm.max_map_count is 65530).
// * A guard page splits a chunk's mapping in two, so guard pages are given to
//   stacks only while the process stays well under max_map_count (the first
//   ~16k stacks with the default limit). For the others, every switch away
//   from a goroutine checks its saved stack pointer against `lo` (free: no
//   page is touched). Both paths report "goroutine N: stack overflow" and
//   abort; an unguarded stack that overflows by more than the unused page
//   below it and returns before its next switch can corrupt its neighbour
//   unnoticed, which is why the guarded stacks are the ones reused first.
// * Memory is reserved with MAP_NORESERVE and faulted in on first touch: a
//   goroutine that uses little stack costs about one page of RSS.
// * Freed stacks go to a per-P cache, then to a global warm pool. Stacks
//   beyond the warm watermark that sat unused for about a second have their
//   pages (header included, in one madvise per run of neighbours) returned
//   to the OS (MADV_DONTNEED) by an idle M (stack_scavenge); the address
//   range is kept for reuse and the header rebuilt then. Nothing is unmapped or madvised on
//   the spawn or exit path.
#pragma once

#include <cstddef>
#include <cstdint>

namespace goro::detail {

struct stack {
  char* lo;          // lowest usable byte; the guard page (if any) is below it
  char* hi;          // one past the highest usable byte; the header sits here
  bool guarded;      // a PROT_NONE page lies directly below lo
  bool cold;         // pages were returned to the OS
  std::size_t size() const { return static_cast<std::size_t>(hi - lo); }
};

// Stack size for stacks handed out from now on (bytes, page-rounded).
std::size_t stack_default_size();
void stack_set_default_size(std::size_t bytes);

// A P's stacks at hand (Go's stackcache), owned by the P's M: an array, not a
// list threaded through the stacks, so moving a batch to or from the pool reads
// no stack header (each is a cache and TLB miss: a burst of 10k exits used to
// chase 16 of them on every spill).
struct stack_cache {
  static constexpr int max = 32;
  int n = 0;  // s[0..n) are free stacks, the most recently freed last
  stack* s[max];
};

// A stack of the current default size: from `cache` if possible, else from
// the global pool (refilling half of `cache`), else newly carved.
stack* stack_alloc(stack_cache& cache);
// Returns s to `cache` (may be null), spilling half of it to the global pool
// when it is full.
void stack_free(stack* s, stack_cache* cache);

// True if a fault at `addr` is in the guard page of s.
inline bool stack_guard_hit(const stack* s, const void* addr, std::size_t page) {
  auto a = reinterpret_cast<std::uintptr_t>(addr);
  auto lo = reinterpret_cast<std::uintptr_t>(s->lo);
  return s->guarded && a < lo && a >= lo - page;
}

// Returns the pages of warm stacks unused for about a second, beyond the
// watermark, to the OS. Cheap when there is nothing to do; called by idle Ms.
// Returns when it wants to run again (monotonic ns; LLONG_MAX: not needed).
std::int64_t stack_scavenge();

struct stack_stats {
  std::size_t chunks, stacks, guarded, warm, cold;
};
stack_stats stack_statistics();

}  // namespace goro::detail
