// Tour: fork-join with continuation stealing (seed chapter 6, "Stealing Tasks
// or Continuations?"). The seed's table, measured on fib(25) with one task per
// call: goro::task_group (child-first: run the child now, leave the caller's
// continuation to be stolen) against goro::go + wait_group (parent-first: the
// child is queued, the caller runs on; thieves steal tasks).
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <goro/goro.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tour.hpp"

namespace {

constexpr int fib_n = 25;

long leaves(int n) { return n < 2 ? 1 : leaves(n - 1) + leaves(n - 2); }

// What each run records: leaves in the order they ran (numbered in the serial
// program's order), and joins that found their child unfinished (stalls).
struct trace {
  std::vector<int> order;
  std::atomic<int> next{0};
  std::atomic<long> joins{0}, stalls{0};
  explicit trace(int n) : order(static_cast<std::size_t>(leaves(n))) {}
  void leaf(int serial_index) {
    order[static_cast<std::size_t>(next.fetch_add(1, std::memory_order_relaxed))] = serial_index;
  }
};

// fib(n), whose leftmost leaf has serial index `first`.
long fib_child_first(trace& t, int n, int first) {
  if (n < 2) {
    t.leaf(first);
    return n;
  }
  long a = 0, b = 0;
  std::atomic<bool> child_done{false};
  goro::task_group tg;
  tg.go([&] {
    a = fib_child_first(t, n - 1, first);
    child_done.store(true, std::memory_order_release);
  });
  b = fib_child_first(t, n - 2, first + static_cast<int>(leaves(n - 1)));
  t.joins.fetch_add(1, std::memory_order_relaxed);
  if (!child_done.load(std::memory_order_acquire)) t.stalls.fetch_add(1, std::memory_order_relaxed);
  tg.wait();
  return a + b;
}

long fib_parent_first(trace& t, int n, int first) {
  if (n < 2) {
    t.leaf(first);
    return n;
  }
  long a = 0, b = 0;
  std::atomic<bool> child_done{false};
  goro::wait_group wg;
  wg.add(1);
  goro::go([&] {
    a = fib_parent_first(t, n - 1, first);
    child_done.store(true, std::memory_order_release);
    wg.done();
  });
  b = fib_parent_first(t, n - 2, first + static_cast<int>(leaves(n - 1)));
  t.joins.fetch_add(1, std::memory_order_relaxed);
  if (!child_done.load(std::memory_order_acquire)) t.stalls.fetch_add(1, std::memory_order_relaxed);
  wg.wait();
  return a + b;
}

struct row {
  double ms;
  std::size_t peak_goroutines;
  long stalls_pct10;  // per mille of joins that stalled
  long in_order_pct;  // consecutive leaves that ran in the serial program's order
  long rss_growth_kib;
};

long max_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

template <class Fib>
row measure(Fib fib) {
  trace t(fib_n);
  // A plain thread samples the live goroutine count (the runtime keeps no
  // high-water mark in its public API); it yields the CPU between samples.
  std::atomic<bool> stop{false};
  std::atomic<std::size_t> peak{0};
  std::size_t base = goro::num_goroutine();
  std::thread watcher([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      peak.store(std::max(peak.load(), goro::num_goroutine()));
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  });
  long rss0 = max_rss_kib();
  auto t0 = std::chrono::steady_clock::now();
  long got = goro::run([&] { return fib(t, fib_n, 0); });
  auto t1 = std::chrono::steady_clock::now();
  stop.store(true);
  watcher.join();
  (void)got;
  long in_order = 0;
  for (std::size_t i = 1; i < t.order.size(); ++i) in_order += t.order[i] == t.order[i - 1] + 1;
  return row{std::chrono::duration<double, std::milli>(t1 - t0).count(),
             peak.load() > base ? peak.load() - base : 0,
             t.joins.load() ? 1000 * t.stalls.load() / t.joins.load() : 0,
             100 * in_order / static_cast<long>(t.order.size() - 1), max_rss_kib() - rss0};
}

}  // namespace

GORO_TOUR_SECTION(60, "fork-join: stealing continuations") {
  // Child-first first: ru_maxrss only grows, so it must not start after the
  // parent-first run raised it.
  row cf = measure(&fib_child_first);
  row pf = measure(&fib_parent_first);
  std::printf("fib(%d), one task per call (%ld leaves), %d Ps:\n", fib_n, leaves(fib_n),
              goro::max_procs());
  std::printf("                          %-26s %-26s\n", "stealing continuations", "stealing tasks");
  std::printf("                          %-26s %-26s\n", "(goro::task_group)", "(goro::go + wait_group)");
  std::printf("queue size (peak live Gs) %-26zu %-26zu  bounded vs unbounded\n",
              cf.peak_goroutines, pf.peak_goroutines);
  std::printf("order (leaves in serial   %-26s %-26s  serial vs out of order\n",
              (std::to_string(cf.in_order_pct) + "%").c_str(),
              (std::to_string(pf.in_order_pct) + "%").c_str());
  std::printf("       order)\n");
  char cf_stalls[32], pf_stalls[32];
  std::snprintf(cf_stalls, sizeof cf_stalls, "%.1f%%", cf.stalls_pct10 / 10.0);
  std::snprintf(pf_stalls, sizeof pf_stalls, "%.1f%%", pf.stalls_pct10 / 10.0);
  std::printf("join (stalled joins)      %-26s %-26s  non-stalling vs stalling\n", cf_stalls,
              pf_stalls);
  std::printf("time                      %-26s %-26s\n",
              (std::to_string(static_cast<long>(cf.ms)) + " ms").c_str(),
              (std::to_string(static_cast<long>(pf.ms)) + " ms").c_str());
  std::printf("peak RSS growth           %-26s %-26s\n",
              (std::to_string(cf.rss_growth_kib) + " KiB").c_str(),
              (std::to_string(pf.rss_growth_kib) + " KiB").c_str());
}
