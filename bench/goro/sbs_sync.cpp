// goro's side of the sync and context workloads: [mutex8] [rwmutex_read] [waitgroup]
// [with_cancel] [mutex_uncontended] [pool_parallel]. Each mirrors bench/go/sync.go; see
// docs/performance.md.
#include <array>
#include <cstddef>
#include <memory>
#include <vector>

#include <goro/goro.hpp>
#if __has_include(<goro/context.hpp>)
#include <goro/context.hpp>
#define GORO_BENCH_HAVE_CONTEXT 1
#endif

#include "sbs_main.hpp"

namespace {

double mutex8(std::size_t n) {
  constexpr int goroutines = 8;
  n -= n % goroutines;
  goro::mutex mu;
  std::size_t counter = 0;
  goro::wait_group wg;
  wg.add(goroutines);
  sbs::stopwatch sw;
  for (int g = 0; g < goroutines; ++g)
    goro::go([&mu, &counter, &wg, per = n / goroutines] {
      for (std::size_t i = 0; i < per; ++i) {
        mu.lock();
        ++counter;
        mu.unlock();
      }
      wg.done();
    });
  wg.wait();
  double ns = sw.ns();
  sbs::check(counter == n, "mutex8", "lost increments");
  return ns;
}

// 8 readers do r shared lock/unlock pairs each; one writer does r/10 exclusive pairs.
double rwmutex_run(std::size_t r) {
  constexpr int readers = 8;
  goro::rw_mutex mu;
  long shared = 0;
  std::vector<long> seen(readers);
  goro::wait_group wg;
  wg.add(readers + 1);
  sbs::stopwatch sw;
  for (int g = 0; g < readers; ++g)
    goro::go([&, g] {
      long s = 0;
      for (std::size_t i = 0; i < r; ++i) {
        mu.lock_shared();
        s += shared;
        mu.unlock_shared();
      }
      seen[g] = s;
      wg.done();
    });
  goro::go([&] {
    for (std::size_t i = 0; i < r / 10; ++i) {
      mu.lock();
      ++shared;
      mu.unlock();
    }
    wg.done();
  });
  wg.wait();
  double ns = sw.ns();
  sbs::check(shared == static_cast<long>(r / 10), "rwmutex_read", "writes lost");
  return ns;
}

void rwmutex_read() {
  constexpr std::size_t readers = 8;
  std::size_t r = std::max<std::size_t>(sbs::scaled(10'000'000) * 10 / (readers * 10 + 1), 10);
  rwmutex_run(r / 10);
  double ns = rwmutex_run(r);
  sbs::report("rwmutex_read", ns / static_cast<double>(readers * r + r / 10), "ns/op");
}

double waitgroup(std::size_t n) {
  goro::wait_group wg;
  sbs::stopwatch sw;
  for (std::size_t i = 0; i < n; ++i) {
    wg.add(1);
    wg.done();
  }
  wg.wait();
  return sw.ns();
}

#ifdef GORO_BENCH_HAVE_CONTEXT
double with_cancel(std::size_t n) {
  sbs::stopwatch sw;
  for (std::size_t i = 0; i < n; ++i) {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    cancel();
    if (i == 0) sbs::check(goro::is(ctx.err(), goro::canceled), "with_cancel", "not canceled");
  }
  return sw.ns();
}
void with_cancel_workload() {
  sbs::per_op("with_cancel", "ns/op", sbs::scaled(2'000'000), with_cancel);
}
#else
void with_cancel_workload() { sbs::pending("with_cancel", "<goro/context.hpp> not there yet"); }
#endif

// One goroutine, no contention: ns per lock/unlock pair.
double mutex_uncontended(std::size_t n) {
  goro::mutex mu;
  std::size_t counter = 0;
  sbs::stopwatch sw;
  for (std::size_t i = 0; i < n; ++i) {
    mu.lock();
    ++counter;
    mu.unlock();
  }
  double ns = sw.ns();
  sbs::check(counter == n, "mutex_uncontended", "lost increments");
  return ns;
}

// GOMAXPROCS goroutines doing get/put pairs on one pool of 64-byte objects: ns per
// pair, all goroutines' pairs counted (wall time / total pairs).
double pool_parallel(std::size_t n) {
  using object = std::array<unsigned char, 64>;
  const int goroutines = goro::max_procs();
  n -= n % goroutines;
  goro::pool<object> p([] { return std::make_unique<object>(); });
  std::vector<std::size_t> pairs(goroutines);
  goro::wait_group wg;
  wg.add(goroutines);
  sbs::stopwatch sw;
  for (int g = 0; g < goroutines; ++g)
    goro::go([&p, &pairs, &wg, g, per = n / goroutines] {
      std::size_t c = 0;
      for (std::size_t i = 0; i < per; ++i) {
        auto b = p.get();
        if (!b) sbs::fail("pool_parallel", "get() returned null");
        ++(*b)[0];
        p.put(std::move(b));
        ++c;
      }
      pairs[g] = c;
      wg.done();
    });
  wg.wait();
  double ns = sw.ns();
  std::size_t total = 0;
  for (std::size_t c : pairs) total += c;
  sbs::check(total == n, "pool_parallel", "lost pairs");
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  return sbs::goro_main(
      argc, argv,
      {
          {"mutex8", [] { sbs::per_op("mutex8", "ns/op", sbs::scaled(10'000'000), mutex8); }},
          {"rwmutex_read", rwmutex_read},
          {"waitgroup",
           [] { sbs::per_op("waitgroup", "ns/op", sbs::scaled(20'000'000), waitgroup); }},
          {"with_cancel", with_cancel_workload},
          {"mutex_uncontended",
           [] {
             sbs::per_op("mutex_uncontended", "ns/op", sbs::scaled(20'000'000),
                         mutex_uncontended);
           }},
          {"pool_parallel",
           [] { sbs::per_op("pool_parallel", "ns/op", sbs::scaled(10'000'000), pool_parallel); }},
      });
}
