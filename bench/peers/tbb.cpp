// tbb.cpp — oneTBB's side of goro's side-by-side benchmark suite: the two workloads a
// task scheduler does natively, fork-join fib(30) and spawning 1M tasks.
//
// Build (bench/compare does this):
//   g++ -O2 -DNDEBUG -std=c++20 -Ibench/common bench/peers/tbb.cpp -o tbb_bench -ltbb -pthread
//
// Worker count: --procs N (else GOMAXPROCS, else hardware threads), enforced with
// tbb::global_control::max_allowed_parallelism. TBB tasks are run-to-completion, not
// stackful: a task_group::wait() inside a task runs other tasks on the same stack
// instead of parking, so this is the non-goroutine reference point for fork-join.
#include <atomic>
#include <cstddef>

#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_group.h>

#include "sbs.hpp"

namespace {

// fib(n-1) as a task, fib(n-2) inline, wait: one task per call with n >= 2, no cutoff,
// the same shape as the goroutine versions (1,346,268 tasks for fib(30)).
long fib(int n) {
  if (n < 2) return n;
  long a = 0;
  tbb::task_group tg;
  tg.run([&a, n] { a = fib(n - 1); });
  long b = fib(n - 2);
  tg.wait();
  return a + b;
}

// [spawn] n empty tasks, each doing the atomic decrement a WaitGroup's Done does.
double spawn(std::size_t n) {
  std::atomic<long> pending{static_cast<long>(n)};
  sbs::stopwatch sw;
  tbb::task_group tg;
  for (std::size_t i = 0; i < n; ++i)
    tg.run([&pending] { pending.fetch_sub(1, std::memory_order_acq_rel); });
  tg.wait();
  double ns = sw.ns();
  sbs::check(pending.load() == 0, "spawn", "tasks lost");
  return ns;
}

std::vector<sbs::workload> workloads() {
  return {
      {"spawn", [] { sbs::per_op("spawn", "ns/op", sbs::scaled(1'000'000), spawn); }},
      {"fib30",
       [] {
         fib(25);
         sbs::stopwatch sw;
         long got = fib(30);
         double ns = sw.ns();
         sbs::check(got == 832040, "fib30", "wrong fib(30)");
         sbs::report("fib30", ns / 1e6, "ms");
       }},
  };
}

}  // namespace

int main(int argc, char** argv) {
  sbs::parse(argc, argv);
  auto ws = workloads();
  if (sbs::opts().list) {
    sbs::list(ws);
    return 0;
  }
  if (sbs::unknown_ids(ws)) return 2;
  tbb::global_control limit(tbb::global_control::max_allowed_parallelism,
                            static_cast<std::size_t>(sbs::opts().procs));
  sbs::run_selected(ws);
  return 0;
}
