// goro's side of bench/fork_join: recursive fib(n) with one task per call (n >= 2),
// the seed's chapter 6 comparison in numbers.
//
//   child-first   goro::task_group: go() runs fib(n-1) at once, the caller's
//                 continuation waits in the P's deque for the child or a thief
//   parent-first  goro::go + goro::wait_group per call: the child waits in runnext
//                 (Go's order), the caller runs on
//
// Usage: goro_fib {child-first|parent-first} [n=30] [runs=5]
// Prints one line: mode n min_ms median_ms peak_goroutines peak_rss_kib
// Timed runs are uninstrumented. Peak live goroutines (beyond the caller) comes
// from one extra run with the runtime's exact peak counter on (src/export_test.hpp:
// this tool reaches the same internals the tests do); peak RSS is getrusage's
// ru_maxrss of this process, which runs one mode only.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <goro/goro.hpp>
#include <vector>

#include "export_test.hpp"

namespace {

long fib_child_first(int n) {
  if (n < 2) return n;
  long a = 0, b = 0;
  goro::task_group tg;
  tg.go([&a, n] { a = fib_child_first(n - 1); });
  b = fib_child_first(n - 2);
  tg.wait();
  return a + b;
}

long fib_parent_first(int n) {
  if (n < 2) return n;
  long a = 0, b = 0;
  goro::wait_group wg;
  wg.add(1);
  goro::go([&a, &wg, n] {
    a = fib_parent_first(n - 1);
    wg.done();
  });
  b = fib_parent_first(n - 2);
  wg.wait();
  return a + b;
}

long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s {child-first|parent-first} [n] [runs]\n", argv[0]);
    return 2;
  }
  const bool child_first = std::strcmp(argv[1], "child-first") == 0;
  if (!child_first && std::strcmp(argv[1], "parent-first") != 0) {
    std::fprintf(stderr, "unknown mode %s\n", argv[1]);
    return 2;
  }
  const int n = argc > 2 ? std::atoi(argv[2]) : 30;
  const int runs = argc > 3 ? std::atoi(argv[3]) : 5;
  auto fib = child_first ? &fib_child_first : &fib_parent_first;
  const long want = fib_serial(n);

  std::vector<double> ms;
  std::size_t peak = 0;
  int rc = goro::run([&] {
    if (fib(std::min(n, 25)) != fib_serial(std::min(n, 25))) return 1;  // warm up
    for (int r = 0; r < runs; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      long got = fib(n);
      auto t1 = std::chrono::steady_clock::now();
      if (got != want) return 1;
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    // One more, untimed run that counts (the count is a shared atomic per spawn).
    goro::detail::goroutine_peak_begin();
    long got = fib(n);
    peak = goro::detail::goroutine_peak_end();
    return got == want ? 0 : 1;
  });
  if (rc != 0) {
    std::fprintf(stderr, "wrong fib(%d)\n", n);
    return 1;
  }
  std::sort(ms.begin(), ms.end());
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("%s %d %.1f %.1f %zu %ld\n", argv[1], n, ms.front(), ms[ms.size() / 2], peak,
              ru.ru_maxrss);
  return 0;
}
