// goro's side of the scheduling and memory workloads: [spawn] [yield] [bare_switch]
// [skynet] [skynet_rss] [sleep100k] [sleep100k_rss] [parked_rss_100k] [parked_rss_1m]
// [fib30]. Each mirrors bench/go/sched.go; see docs/performance.md.
#include <chrono>
#include <cstdint>
#include <vector>

#include <goro/goro.hpp>
#include <goro/fork_join.hpp>

#include "bare_switch.hpp"
#include "sbs_main.hpp"

namespace {

using namespace std::chrono_literals;

double spawn(std::size_t n) {
  goro::wait_group wg;
  wg.add(static_cast<int>(n));
  sbs::stopwatch sw;
  for (std::size_t i = 0; i < n; ++i) goro::go([&wg] { wg.done(); });
  wg.wait();
  return sw.ns();
}

// Two goroutines yielding to each other on one P: ns per round trip.
double yield_rt(std::size_t n) {
  goro::wait_group wg;
  wg.add(2);
  sbs::stopwatch sw;
  for (int g = 0; g < 2; ++g)
    goro::go([n, &wg] {
      for (std::size_t i = 0; i < n; ++i) goro::yield();
      wg.done();
    });
  wg.wait();
  return sw.ns();
}

void yield_workload() {
  int prev = goro::set_max_procs(1);
  sbs::per_op("yield", "ns/op", sbs::scaled(2'000'000), yield_rt);
  goro::set_max_procs(prev);
}

// Skynet 1M with an unbuffered channel per node, as in the Go original.
void skynet(goro::chan<std::int64_t> c, std::int64_t num, std::int64_t size, std::int64_t div) {
  if (size == 1) {
    c.send(num);
    return;
  }
  auto rc = goro::make_chan<std::int64_t>();
  for (std::int64_t i = 0; i < div; ++i) {
    std::int64_t sub = num + i * (size / div);
    goro::go([rc, sub, size, div] { skynet(rc, sub, size / div, div); });
  }
  std::int64_t sum = 0;
  for (std::int64_t i = 0; i < div; ++i) sum += *rc.recv();
  c.send(sum);
}

double run_skynet(const char* id, std::int64_t leaves) {
  sbs::stopwatch sw;
  auto c = goro::make_chan<std::int64_t>();
  goro::go([c, leaves] { skynet(c, 0, leaves, 10); });
  std::int64_t got = *c.recv();
  double ns = sw.ns();
  sbs::check(got == leaves * (leaves - 1) / 2, id, "wrong skynet sum");
  return ns;
}

double sleep100k() {
  constexpr int n = 100'000;
  goro::wait_group wg;
  wg.add(n);
  sbs::stopwatch sw;
  for (int i = 0; i < n; ++i)
    goro::go([&wg] {
      goro::sleep(10ms);
      wg.done();
    });
  wg.wait();
  return sw.ns();
}

// RSS per parked goroutine, each blocked receiving on its own channel; the channels
// are counted, as in the Go version.
void parked_rss(const char* id, std::size_t n) {
  long before = sbs::current_rss_bytes();
  std::vector<goro::chan<int>> chans;
  chans.reserve(n);
  goro::wait_group ready, done;
  ready.add(static_cast<int>(n));
  done.add(static_cast<int>(n));
  for (std::size_t i = 0; i < n; ++i) {
    auto c = goro::make_chan<int>();
    chans.push_back(c);
    goro::go([c, &ready, &done]() mutable {
      ready.done();
      (void)c.recv();
      done.done();
    });
  }
  ready.wait();
  goro::sleep(50ms);  // the last ones get from done() to parked
  long after = sbs::current_rss_bytes();
  for (auto& c : chans) c.close();
  done.wait();
  sbs::report(id, static_cast<double>(after - before) / 1024.0 / static_cast<double>(n), "KiB");
}

// Fork-join fib with no cutoff: fib(n-1) forked, fib(n-2) inline, then join.
// fib30 uses goro's fork-join (task_group: child-first, continuation
// stealing), the primitive goro offers for this shape; fib30_go keeps Go's
// shape (goro::go, parent-first, + wait_group) for the like-for-like figure.
long fib_tg(int n) {
  if (n < 2) return n;
  long a = 0;
  goro::task_group tg;
  tg.go([&a, n] { a = fib_tg(n - 1); });
  long b = fib_tg(n - 2);
  tg.wait();
  return a + b;
}

long fib_go(int n) {
  if (n < 2) return n;
  long a = 0;
  goro::wait_group wg;
  wg.add(1);
  goro::go([&a, &wg, n] {
    a = fib_go(n - 1);
    wg.done();
  });
  long b = fib_go(n - 2);
  wg.wait();
  return a + b;
}

template <long (*Fib)(int)>
void fib30_with(const char* id) {
  Fib(25);
  sbs::stopwatch sw;
  long got = Fib(30);
  double ns = sw.ns();
  sbs::check(got == 832040, id, "wrong fib(30)");
  sbs::report(id, ns / 1e6, "ms");
}

void fib30() { fib30_with<fib_tg>("fib30"); }
void fib30_go() { fib30_with<fib_go>("fib30_go"); }

}  // namespace

int main(int argc, char** argv) {
  return sbs::goro_main(
      argc, argv,
      {
          {"spawn", [] { sbs::per_op("spawn", "ns/op", sbs::scaled(1'000'000), spawn); }},
          {"yield", yield_workload},
          {"skynet",
           [] {
             run_skynet("skynet", 100'000);
             sbs::report("skynet", run_skynet("skynet", 1'000'000) / 1e6, "ms");
           }},
          {"skynet_rss",
           [] {
             run_skynet("skynet_rss", 1'000'000);
             sbs::report("skynet_rss", sbs::peak_rss_kib() / 1024.0, "MiB");
           }},
          {"sleep100k",
           [] {
             sleep100k();
             sbs::report("sleep100k", sleep100k() / 1e6, "ms");
           }},
          {"sleep100k_rss",
           [] {
             sleep100k();
             sbs::report("sleep100k_rss", sbs::peak_rss_kib() / 1024.0, "MiB");
           }},
          {"parked_rss_100k", [] { parked_rss("parked_rss_100k", 100'000); }},
          {"parked_rss_1m", [] { parked_rss("parked_rss_1m", 1'000'000); }},
          {"fib30", fib30},
          {"fib30_go", fib30_go},
      },
      // On the bare main thread, before the runtime starts: the floor for [yield].
      {{"bare_switch", sbs::bare_switch_workload}});
}
