// goro's side of the channel workloads: [pingpong] [buffered_1p1c] [contended_4p4c]
// [close_broadcast] [sieve] [pipeline]. Each mirrors bench/go/chan.go line for line;
// see docs/performance.md for what each measures.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include <goro/goro.hpp>

#include "sbs_main.hpp"

namespace {

using namespace std::chrono_literals;

double pingpong(std::size_t n) {
  auto ping = goro::make_chan<int>();
  auto pong = goro::make_chan<int>();
  goro::wait_group wg;
  wg.add(2);
  sbs::stopwatch sw;
  goro::go([ping, pong, n, &wg]() mutable {
    for (std::size_t i = 0; i < n; ++i) {
      ping.send(static_cast<int>(i));
      (void)pong.recv();
    }
    wg.done();
  });
  goro::go([ping, pong, n, &wg]() mutable {
    for (std::size_t i = 0; i < n; ++i) pong.send(*ping.recv());
    wg.done();
  });
  wg.wait();
  return sw.ns();
}

double buffered_1p1c(std::size_t n) {
  auto ch = goro::make_chan<int>(128);
  goro::wait_group wg;
  wg.add(2);
  long long sum = 0;
  sbs::stopwatch sw;
  goro::go([ch, n, &wg]() mutable {
    for (std::size_t i = 0; i < n; ++i) ch.send(static_cast<int>(i));
    ch.close();
    wg.done();
  });
  goro::go([ch, &sum, &wg]() mutable {
    for (int v : ch) sum += v;
    wg.done();
  });
  wg.wait();
  double ns = sw.ns();
  sbs::check(sum == static_cast<long long>(n) * static_cast<long long>(n - 1) / 2,
             "buffered_1p1c", "bad sum");
  return ns;
}

double contended_4p4c(std::size_t n) {
  constexpr int producers = 4, consumers = 4;
  n -= n % producers;
  auto ch = goro::make_chan<int>(64);
  goro::wait_group prod, cons;
  std::atomic<long long> sum{0};
  prod.add(producers);
  cons.add(consumers);
  sbs::stopwatch sw;
  for (int p = 0; p < producers; ++p)
    goro::go([ch, n, p, &prod]() mutable {
      for (std::size_t i = p; i < n; i += producers) ch.send(static_cast<int>(i));
      prod.done();
    });
  for (int c = 0; c < consumers; ++c)
    goro::go([ch, &sum, &cons]() mutable {
      long long local = 0;
      for (int v : ch) local += v;
      sum += local;
      cons.done();
    });
  goro::go([ch, &prod]() mutable {
    prod.wait();
    ch.close();
  });
  cons.wait();
  double ns = sw.ns();
  sbs::check(sum == static_cast<long long>(n) * static_cast<long long>(n - 1) / 2,
             "contended_4p4c", "bad sum");
  return ns;
}

double close_round(int waiters) {
  auto ch = goro::make_chan<void>();
  goro::wait_group ready, done;
  ready.add(waiters);
  done.add(waiters);
  for (int i = 0; i < waiters; ++i)
    goro::go([ch, &ready, &done]() mutable {
      ready.done();
      (void)ch.recv();  // false: closed
      done.done();
    });
  ready.wait();
  goro::sleep(20ms);  // the last ones get from done() to parked
  sbs::stopwatch sw;
  ch.close();
  done.wait();
  return sw.ns();
}

void close_broadcast() {
  constexpr int waiters = 10'000, rounds = 10;
  close_round(waiters);
  double total = 0;
  for (int r = 0; r < rounds; ++r) total += close_round(waiters);
  sbs::report("close_broadcast", total / rounds / 1e3, "us");
}

// The concurrent prime sieve, leak-free like bench/go/chan.go's.
double sieve(int primes, int* last) {
  std::atomic<bool> stop{false};
  sbs::stopwatch sw;
  auto ch = goro::make_chan<int>();
  goro::go([out = ch, &stop]() mutable {
    for (int i = 2; !stop.load(std::memory_order_relaxed); ++i) out.send(i);
    out.close();
  });
  for (int i = 0; i < primes; ++i) {
    int prime = *ch.recv();
    *last = prime;
    auto next = goro::make_chan<int>();
    goro::go([in = ch, out = next, prime]() mutable {
      for (int v : in)
        if (v % prime != 0) out.send(v);
      out.close();
    });
    ch = next;
  }
  double ns = sw.ns();
  stop = true;
  for (int v : ch) (void)v;
  // The generator has closed its channel, so it no longer touches `stop`.
  return ns;
}

void sieve_workload() {
  int last = 0;
  sieve(500, &last);
  double ns = sieve(5000, &last);
  sbs::check(last == 48611, "sieve", "wrong 5000th prime");
  sbs::report("sieve", ns / 1e6, "ms");
}

double pipeline(std::size_t n) {
  using item = std::int64_t;
  constexpr std::size_t cap = 128;
  const int workers = goro::max_procs();
  sbs::stopwatch sw;

  auto gen = goro::make_chan<item>(cap);
  goro::go([gen, n]() mutable {
    for (std::size_t i = 0; i < n; ++i) gen.send(static_cast<item>(i));
    gen.close();
  });
  auto mapped = goro::make_chan<item>(cap);
  goro::go([gen, mapped]() mutable {
    for (item v : gen) mapped.send(v * 3);
    mapped.close();
  });
  auto filtered = goro::make_chan<item>(cap);
  goro::go([mapped, filtered]() mutable {
    for (item v : mapped)
      if (v % 4 != 0) filtered.send(v);
    filtered.close();
  });
  auto merged = goro::make_chan<item>(cap);
  goro::wait_group fan_in;
  fan_in.add(workers);
  for (int w = 0; w < workers; ++w) {
    auto out = goro::make_chan<item>(cap);
    goro::go([filtered, out]() mutable {  // worker: fan-out by sharing one input
      for (item v : filtered) out.send(v + 1);
      out.close();
    });
    goro::go([out, merged, &fan_in]() mutable {  // fan-in: one forwarder per worker
      for (item v : out) merged.send(v);
      fan_in.done();
    });
  }
  goro::go([merged, &fan_in]() mutable {
    fan_in.wait();
    merged.close();
  });
  item sum = 0;
  for (item v : merged) sum += v;
  double ns = sw.ns();

  item want = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (item v = static_cast<item>(i) * 3; v % 4 != 0) want += v + 1;
  sbs::check(sum == want, "pipeline", "bad sum");
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  return sbs::goro_main(
      argc, argv,
      {
          {"pingpong", [] { sbs::per_op("pingpong", "ns/op", sbs::scaled(500'000), pingpong); }},
          {"buffered_1p1c",
           [] { sbs::per_op("buffered_1p1c", "ns/item", sbs::scaled(4'000'000), buffered_1p1c); }},
          {"contended_4p4c",
           [] {
             sbs::per_op("contended_4p4c", "ns/item", sbs::scaled(3'000'000), contended_4p4c);
           }},
          {"close_broadcast", close_broadcast},
          {"sieve", sieve_workload},
          {"pipeline",
           [] { sbs::per_op("pipeline", "ns/item", sbs::scaled(10'000'000), pipeline); }},
      });
}
