// oneTBB's side of bench/fork_join: fib(n) with one tbb::task_group task per call,
// the same shape as goro_fib.cpp (fib(n-1) forked, fib(n-2) inline, wait).
// Workers: GOMAXPROCS (else hardware threads), via global_control.
// TBB tasks are not stackful: a wait() inside a task runs other tasks on top of
// the waiting one's stack, so there are no "live goroutines" to count.
//
// Usage: tbb_fib [n=30] [runs=5]
// Prints one line: tbb n min_ms median_ms - peak_rss_kib
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>

namespace {

long fib(int n) {
  if (n < 2) return n;
  long a = 0, b = 0;
  tbb::task_group tg;
  tg.run([&a, n] { a = fib(n - 1); });
  b = fib(n - 2);
  tg.wait();
  return a + b;
}

long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 30;
  const int runs = argc > 2 ? std::atoi(argv[2]) : 5;
  int procs = static_cast<int>(std::thread::hardware_concurrency());
  if (const char* e = std::getenv("GOMAXPROCS")) procs = std::max(1, std::atoi(e));
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                            static_cast<std::size_t>(procs));
  tbb::task_arena arena(procs);
  const long want = fib_serial(n);
  std::vector<double> ms;
  bool ok = true;
  arena.execute([&] {
    ok = fib(std::min(n, 25)) == fib_serial(std::min(n, 25));
    for (int r = 0; r < runs && ok; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      long got = fib(n);
      auto t1 = std::chrono::steady_clock::now();
      ok = got == want;
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
  });
  if (!ok) {
    std::fprintf(stderr, "wrong fib(%d)\n", n);
    return 1;
  }
  std::sort(ms.begin(), ms.end());
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("tbb %d %.1f %.1f - %ld\n", n, ms.front(), ms[ms.size() / 2], ru.ru_maxrss);
  return 0;
}
