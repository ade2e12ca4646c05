// Goroutine stack allocator: see stack.hpp for the layout and its invariants.
#include "stack.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <mutex>
#include <vector>
#include <ctime>

#include "sanitizer.hpp"

namespace goro::detail {
namespace {

constexpr std::size_t header_size = 64;  // sizeof(stack) rounded to a cache line
static_assert(sizeof(stack) <= header_size);
constexpr std::size_t chunk_bytes = 64u << 20;  // one mmap carves this many bytes of stacks
// Warm stacks kept indefinitely beyond the per-P caches. Stacks above this
// watermark stay warm too (a burst of goroutines is often followed by another)
// until they have sat unused for scavenge_age_ns; then an idle M returns their
// pages to the OS (stack_scavenge, called from the scheduler when an M has
// nothing to do). Nothing is madvised on the spawn or exit path.
constexpr std::size_t warm_pool_max = 512;
constexpr std::int64_t scavenge_age_ns = 1'000'000'000;

std::size_t page_size() {
  static const std::size_t p = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return p;
}

std::size_t round_to_page(std::size_t n) {
  std::size_t p = page_size();
  return (n + p - 1) / p * p;
}

std::size_t initial_default_size() {
  std::size_t size = 256u << 10;
  if (const char* env = std::getenv("GORO_STACK_SIZE")) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(env, &end, 10);
    if (end && (*end == 'k' || *end == 'K')) v <<= 10;
    if (end && (*end == 'm' || *end == 'M')) v <<= 20;
    if (v >= 16u << 10) size = v;
    else std::fprintf(stderr, "goro: ignoring GORO_STACK_SIZE=%s (minimum 16K)\n", env);
  }
  return round_to_page(size);
}

// Stacks we may guard: each guarded stack splits its chunk's mapping into two
// more VMAs. Keep their total under half of vm.max_map_count, leaving the rest
// to the program (malloc arenas, libraries, its own mappings).
std::size_t guard_budget() {
  long max_maps = 65530;
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    if (std::fscanf(f, "%ld", &max_maps) != 1) max_maps = 65530;
    std::fclose(f);
  }
  return static_cast<std::size_t>(max_maps / 2 / 2);
}

// The global pool. All fields guarded by mu.
struct pool_t {
  std::mutex mu;
  std::size_t size = initial_default_size();  // usable + header; guard excluded
  std::vector<stack*> warm;                   // touched pages kept; LIFO, oldest first
  std::size_t warm_low = 0;  // fewest warm stacks since the last scavenge
  std::int64_t last_scavenge = 0;
  // Stacks whose pages (header included) went back to the OS: only where they
  // are is remembered; the header is rebuilt on reuse.
  struct cold_stack {
    char* lo;
    std::size_t size;  // usable + header
    bool guarded;
  };
  std::vector<cold_stack> cold;
  char* chunk_next = nullptr;  // carving cursor in the current chunk
  char* chunk_end = nullptr;
  std::size_t chunks = 0, stacks = 0, guarded = 0;
  std::size_t guard_left = guard_budget();
};

pool_t& pool() {
  static pool_t* p = new pool_t;  // never destroyed: goroutines may outlive main
  return *p;
}

std::atomic<std::size_t> default_size_cache{0};

// Carves one stack of p.size bytes; p.mu held.
stack* carve(pool_t& p) {
  const std::size_t pg = page_size();
  const std::size_t slot = p.size + pg;
  if (p.chunk_next == nullptr || p.chunk_next + slot > p.chunk_end) {
    std::size_t bytes = slot > chunk_bytes ? slot : chunk_bytes / slot * slot;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED) {
      std::fprintf(stderr, "goro: cannot map goroutine stacks (%zu bytes): %s\n", bytes,
                   std::strerror(errno));
      std::abort();
    }
    p.chunk_next = static_cast<char*>(mem);
    p.chunk_end = p.chunk_next + bytes;
    ++p.chunks;
  }
  char* base = p.chunk_next;
  p.chunk_next += slot;
  char* lo = base + pg;
  char* top = base + slot;
  auto* s = reinterpret_cast<stack*>(top - header_size);
  s->lo = lo;
  s->hi = reinterpret_cast<char*>(s);
  s->cold = false;
  s->guarded = false;
  if (p.guard_left > 0 && mprotect(base, pg, PROT_NONE) == 0) {
    --p.guard_left;
    ++p.guarded;
    s->guarded = true;
  }
  ++p.stacks;
  return s;
}

}  // namespace

std::size_t stack_default_size() {
  std::size_t s = default_size_cache.load(std::memory_order_relaxed);
  if (s == 0) {
    pool_t& p = pool();
    std::lock_guard lk(p.mu);
    s = p.size;
    default_size_cache.store(s, std::memory_order_relaxed);
  }
  return s - header_size;
}

void stack_set_default_size(std::size_t bytes) {
  if (bytes < (16u << 10)) bytes = 16u << 10;
  pool_t& p = pool();
  std::lock_guard lk(p.mu);
  std::size_t size = round_to_page(bytes + header_size);
  if (size == p.size) return;
  p.size = size;
  default_size_cache.store(size, std::memory_order_relaxed);
  // Pooled stacks of the old size are dropped (their address space stays
  // reserved, their pages go back to the OS); carving restarts in a new chunk.
  for (stack* s : p.warm) madvise(s->lo, s->size(), MADV_DONTNEED);
  for (auto& c : p.cold) madvise(c.lo, c.size, MADV_DONTNEED);
  p.warm.clear();
  p.cold.clear();
  p.warm_low = 0;
  p.chunk_next = p.chunk_end = nullptr;
}

// Stacks of an older default size are not handed out again.
static bool has_current_size(const stack* s) {
  return static_cast<std::size_t>(s->hi + header_size - s->lo) ==
         default_size_cache.load(std::memory_order_relaxed);
}

stack* stack_alloc(stack_cache& cache) {
  if (default_size_cache.load(std::memory_order_relaxed) == 0) stack_default_size();
  for (;;) {
    while (cache.n > 0) {
      stack* s = cache.s[--cache.n];
      if (has_current_size(s)) return s;
      madvise(s->lo, s->size(), MADV_DONTNEED);  // old size: abandon (rare)
    }
    // Refill half the cache from the warm pool in one lock (Go's stackcacherefill):
    // a P that spawns many goroutines takes the pool lock once per batch.
    pool_t& p = pool();
    std::lock_guard lk(p.mu);
    if (!p.warm.empty()) {
      int n = std::min<int>(stack_cache::max / 2, static_cast<int>(p.warm.size()));
      for (int i = 0; i < n; ++i) {
        cache.s[cache.n++] = p.warm.back();
        p.warm.pop_back();
      }
      if (p.warm.size() < p.warm_low) p.warm_low = p.warm.size();
      continue;
    }
    if (!p.cold.empty()) {
      auto c = p.cold.back();
      p.cold.pop_back();
      auto* s = reinterpret_cast<stack*>(c.lo + c.size - header_size);
      s->lo = c.lo;
      s->hi = reinterpret_cast<char*>(s);
      s->guarded = c.guarded;
      s->cold = false;
      return s;
    }
    return carve(p);
  }
}

void stack_free(stack* s, stack_cache* cache) {
  san::unpoison_stack(s->lo, s->size());
  if (cache != nullptr && cache->n < stack_cache::max) {
    cache->s[cache->n++] = s;
    return;
  }
  // The cache is full: give back its older half with s in one lock (Go's
  // stackcacherelease). One lock per freed stack had the Ms exiting a burst of
  // goroutines (a close broadcast) sleeping on this mutex in turn.
  pool_t& p = pool();
  std::lock_guard lk(p.mu);
  p.warm.push_back(s);
  if (cache != nullptr) {
    constexpr int half = stack_cache::max / 2;
    p.warm.insert(p.warm.end(), cache->s, cache->s + half);
    std::copy(cache->s + half, cache->s + cache->n, cache->s);
    cache->n -= half;
  }
}

namespace {
std::int64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace

std::int64_t stack_scavenge() {
  pool_t& p = pool();
  std::int64_t now = monotonic_ns();
  std::vector<stack*> victims;
  std::int64_t next = LLONG_MAX;
  {
    std::lock_guard lk(p.mu);
    if (p.warm.size() <= warm_pool_max) return LLONG_MAX;
    if (now - p.last_scavenge < scavenge_age_ns) return p.last_scavenge + scavenge_age_ns;
    next = now + scavenge_age_ns;
    p.last_scavenge = now;
    // Stacks below the pool's low-water mark of the last period were not
    // used during it: the oldest of them beyond the watermark go cold.
    std::size_t idle = std::min(p.warm_low, p.warm.size());
    std::size_t n = idle > warm_pool_max ? idle - warm_pool_max : 0;
    victims.assign(p.warm.begin(), p.warm.begin() + static_cast<std::ptrdiff_t>(n));
    p.warm.erase(p.warm.begin(), p.warm.begin() + static_cast<std::ptrdiff_t>(n));
    p.warm_low = p.warm.size();
  }
  // One madvise per run of neighbouring stacks (they were carved side by
  // side), guard pages included: a million stacks cost a few thousand calls.
  std::vector<pool_t::cold_stack> cold;
  cold.reserve(victims.size());
  for (stack* v : victims) cold.push_back({v->lo, static_cast<std::size_t>(v->hi + header_size - v->lo), v->guarded});
  std::sort(cold.begin(), cold.end(), [](auto& a, auto& b) { return a.lo < b.lo; });
  const std::size_t pg = page_size();
  for (std::size_t i = 0; i < cold.size();) {
    std::size_t j = i + 1;
    while (j < cold.size() && cold[j].lo == cold[j - 1].lo + cold[j - 1].size + pg) ++j;
    char* begin = cold[i].lo;
    char* end = cold[j - 1].lo + cold[j - 1].size;
    if (madvise(begin, static_cast<std::size_t>(end - begin), MADV_DONTNEED) != 0) {
      for (std::size_t k = i; k < j; ++k) madvise(cold[k].lo, cold[k].size, MADV_DONTNEED);
    }
    i = j;
  }
  std::lock_guard lk(p.mu);
  p.cold.insert(p.cold.end(), cold.begin(), cold.end());
  return p.warm.size() > warm_pool_max ? next : LLONG_MAX;
}

stack_stats stack_statistics() {
  pool_t& p = pool();
  std::lock_guard lk(p.mu);
  return {p.chunks, p.stacks, p.guarded, p.warm.size(), p.cold.size()};
}

std::size_t stack_guard_budget() { return guard_budget(); }

}  // namespace goro::detail
