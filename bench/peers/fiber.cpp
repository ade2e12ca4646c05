// fiber.cpp — Boost.Fiber 1.81's side of goro's side-by-side benchmark suite.
//
// Build (bench/compare does this):
//   g++ -O2 -DNDEBUG -std=c++20 -Ibench/common bench/peers/fiber.cpp -o fiber_bench
//       -lboost_fiber -lboost_context -pthread
//
// Scheduling: boost::fibers::algo::work_stealing on --procs threads (the main thread
// plus procs-1 helpers), set up once per process as Boost's own examples do
// (performance/fiber/skynet_stealing_detach.cpp): every thread installs the algorithm,
// a barrier makes sure all are registered before the first fiber is launched, and the
// helper threads then park their main fiber on a condition variable until shutdown,
// which lets their dispatchers run stolen fibers. Idle threads sleep (work_stealing
// constructed with suspend = true); --spin gives Boost's default, suspend = false, where
// idle threads spin. On this project's 2-vCPU VMs spinning made cross-thread hand-offs
// erratic (ping-pong 4-62 us instead of 0.8 us; buffered_1p1c over 60 s), so sleeping
// is the fair default here.
//
// Fibers are detached; completion is signalled through a small wait-group-like latch
// (below). Channel workloads launch with launch::post (the parent keeps running, as with
// `go`) and the default 128 KiB stack; the workloads that create fibers by the hundred
// thousand use launch::dispatch and 16 KiB fixedsize stacks, like Boost's own skynet
// benchmarks (16 KiB clears stack_traits::minimum_size() = 13.5 KiB here).
// Boost.Fiber has no select, no RW mutex, no WaitGroup and no context: those
// workloads print PENDING. buffered_channel needs a power-of-two capacity and holds
// capacity - 1 values.
#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/fiber/all.hpp>

#include "sbs.hpp"

namespace bf = boost::fibers;
using namespace std::chrono_literals;

namespace {

std::size_t small_stack_size = 16 * 1024;

// go: a detached fiber with the default stack, launch::post (the parent keeps running).
template <class F>
void go(F&& f) {
  bf::fiber(bf::launch::post, std::forward<F>(f)).detach();
}

// go_small: for the workloads that create fibers by the hundred thousand. A 16 KiB
// fixedsize stack and launch::dispatch, as in Boost's own skynet benchmarks: the child
// runs at once and the parent is requeued. With post, the parent creates every fiber
// before one finishes, and Boost.Fiber only frees terminated fibers when a thread's
// dispatcher runs (its ready queue empty): 1M spawns then took 35 s and 9 GiB here.
template <class F>
void go_small(F&& f) {
  bf::fiber(bf::launch::dispatch, std::allocator_arg, bf::fixedsize_stack(small_stack_size),
            std::forward<F>(f))
      .detach();
}

// Go's WaitGroup, the part these workloads use: done() is one atomic decrement unless it
// is the last; wait() parks the calling fiber. May be destroyed once wait() returns.
class latch {
 public:
  explicit latch(long n) : n_(n) {}
  void done() {
    if (n_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<bf::mutex> lk(m_);
      zero_ = true;
      cv_.notify_all();
    }
  }
  void wait() {
    std::unique_lock<bf::mutex> lk(m_);
    cv_.wait(lk, [this] { return zero_; });
  }

 private:
  std::atomic<long> n_;
  bf::mutex m_;
  bf::condition_variable cv_;
  bool zero_ = false;
};

// The work-stealing pool: the main thread and procs-1 helper threads.
class pool {
 public:
  pool(int procs, bool suspend) : ready_(procs) {
    // In 1.81 work_stealing's constructor itself waits until all n threads have
    // constructed theirs, so the helpers must be started before the main thread's.
    auto n = static_cast<std::uint32_t>(procs);
    for (int i = 1; i < procs; ++i)
      helpers_.emplace_back([this, n, suspend] {
        bf::use_scheduling_algorithm<bf::algo::work_stealing>(n, suspend);
        ready_.arrive_and_wait();
        std::unique_lock<std::mutex> lk(mtx_);
        cnd_.wait(lk, [this] { return stop_; });
      });
    bf::use_scheduling_algorithm<bf::algo::work_stealing>(n, suspend);
    ready_.arrive_and_wait();
  }
  ~pool() {
    {
      std::lock_guard<std::mutex> lk(mtx_);
      stop_ = true;
    }
    cnd_.notify_all();
    for (auto& t : helpers_) t.join();
  }

 private:
  std::barrier<> ready_;
  std::mutex mtx_;
  bf::condition_variable_any cnd_;
  bool stop_ = false;
  std::vector<std::thread> helpers_;
};

int procs() { return sbs::opts().procs; }

// ---- channels ---------------------------------------------------------------------

double pingpong(std::size_t n) {
  bf::unbuffered_channel<int> ping, pong;
  latch wg(2);
  sbs::stopwatch sw;
  go([&] {
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      ping.push(static_cast<int>(i));
      pong.pop(v);
    }
    wg.done();
  });
  go([&] {
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) {
      ping.pop(v);
      pong.push(v);
    }
    wg.done();
  });
  wg.wait();
  return sw.ns();
}

double buffered_1p1c(std::size_t n) {
  bf::buffered_channel<int> ch(128);
  latch wg(2);
  long long sum = 0;
  sbs::stopwatch sw;
  go([&] {
    for (std::size_t i = 0; i < n; ++i) ch.push(static_cast<int>(i));
    ch.close();
    wg.done();
  });
  go([&] {
    for (int v : ch) sum += v;
    wg.done();
  });
  wg.wait();
  double ns = sw.ns();
  sbs::check(sum == static_cast<long long>(n) * static_cast<long long>(n - 1) / 2, "buffered_1p1c", "bad sum");
  return ns;
}

double contended_4p4c(std::size_t n) {
  constexpr int producers = 4, consumers = 4;
  n -= n % producers;
  bf::buffered_channel<int> ch(64);
  latch prod(producers), cons(consumers);
  std::atomic<long long> sum{0};
  sbs::stopwatch sw;
  for (int p = 0; p < producers; ++p)
    go([&, p] {
      for (std::size_t i = p; i < n; i += producers) ch.push(static_cast<int>(i));
      prod.done();
    });
  for (int c = 0; c < consumers; ++c)
    go([&] {
      long long local = 0;
      for (int v : ch) local += v;
      sum += local;
      cons.done();
    });
  go([&] {
    prod.wait();
    ch.close();
  });
  cons.wait();
  double ns = sw.ns();
  sbs::check(sum == static_cast<long long>(n) * static_cast<long long>(n - 1) / 2, "contended_4p4c", "bad sum");
  return ns;
}

double close_round(int waiters) {
  bf::unbuffered_channel<int> ch;
  latch ready(waiters), done(waiters);
  for (int i = 0; i < waiters; ++i)
    go_small([&] {
      ready.done();
      int v;
      ch.pop(v);  // returns channel_op_status::closed
      done.done();
    });
  ready.wait();
  boost::this_fiber::sleep_for(20ms);  // the last ones get from done() to parked
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

// The concurrent prime sieve, leak-free: see bench/go/chan.go.
double sieve(int primes, int* last) {
  std::atomic<bool> stop{false};
  std::vector<std::unique_ptr<bf::unbuffered_channel<int>>> chans;
  sbs::stopwatch sw;
  chans.push_back(std::make_unique<bf::unbuffered_channel<int>>());
  go([out = chans.back().get(), &stop] {
    for (int i = 2; !stop.load(std::memory_order_relaxed); ++i) out->push(i);
    out->close();
  });
  for (int i = 0; i < primes; ++i) {
    auto* in = chans.back().get();
    int prime = in->value_pop();
    *last = prime;
    chans.push_back(std::make_unique<bf::unbuffered_channel<int>>());
    go([in, out = chans.back().get(), prime] {
      for (int v : *in)
        if (v % prime != 0) out->push(v);
      out->close();
    });
  }
  double ns = sw.ns();
  stop = true;
  for (int v : *chans.back()) (void)v;
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
  constexpr std::size_t cap = 128;
  const int workers = procs();
  using chan = bf::buffered_channel<long long>;
  chan gen(cap), mapped(cap), filtered(cap), merged(cap);
  std::vector<std::unique_ptr<chan>> outs;
  for (int w = 0; w < workers; ++w) outs.push_back(std::make_unique<chan>(cap));
  latch fan_in(workers);
  sbs::stopwatch sw;
  go([&] {
    for (std::size_t i = 0; i < n; ++i) gen.push(static_cast<long long>(i));
    gen.close();
  });
  go([&] {
    for (long long v : gen) mapped.push(v * 3);
    mapped.close();
  });
  go([&] {
    for (long long v : mapped)
      if (v % 4 != 0) filtered.push(v);
    filtered.close();
  });
  for (int w = 0; w < workers; ++w) {
    chan* out = outs[w].get();
    go([&filtered, out] {
      for (long long v : filtered) out->push(v + 1);
      out->close();
    });
    go([&merged, &fan_in, out] {
      for (long long v : *out) merged.push(v);
      fan_in.done();
    });
  }
  go([&] {
    fan_in.wait();
    merged.close();
  });
  long long sum = 0;
  for (long long v : merged) sum += v;
  double ns = sw.ns();
  long long want = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (long long v = static_cast<long long>(i) * 3; v % 4 != 0) want += v + 1;
  sbs::check(sum == want, "pipeline", "bad sum");
  return ns;
}

// ---- scheduling -------------------------------------------------------------------

double spawn(std::size_t n) {
  latch wg(static_cast<long>(n));
  sbs::stopwatch sw;
  for (std::size_t i = 0; i < n; ++i) go_small([&wg] { wg.done(); });
  wg.wait();
  return sw.ns();
}

// Two fibers yielding to each other on one thread: a thread of its own running the
// default round_robin scheduler (work_stealing would let the pool steal them apart).
double yield_rt(std::size_t n) {
  double ns = 0;
  std::thread([&] {
    sbs::stopwatch sw;
    bf::fiber a([n] {
      for (std::size_t i = 0; i < n; ++i) boost::this_fiber::yield();
    });
    bf::fiber b([n] {
      for (std::size_t i = 0; i < n; ++i) boost::this_fiber::yield();
    });
    a.join();
    b.join();
    ns = sw.ns();
  }).join();
  return ns;
}

// Skynet as in Boost's performance/fiber/skynet_stealing_detach.cpp: a buffered_channel
// of 16 per node (children never block), launched with post here like everything else.
using skynet_chan = bf::buffered_channel<std::uint64_t>;

void skynet(skynet_chan& c, std::uint64_t num, std::uint64_t size, std::uint64_t div) {
  if (size == 1) {
    c.push(num);
    return;
  }
  skynet_chan rc(16);
  for (std::uint64_t i = 0; i < div; ++i) {
    std::uint64_t sub = num + i * (size / div);
    go_small([&rc, sub, size, div] { skynet(rc, sub, size / div, div); });
  }
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < div; ++i) sum += rc.value_pop();
  c.push(sum);
}

double run_skynet(const char* id, std::uint64_t leaves) {
  sbs::stopwatch sw;
  skynet_chan c(2);
  go_small([&c, leaves] { skynet(c, 0, leaves, 10); });
  std::uint64_t got = c.value_pop();
  double ns = sw.ns();
  sbs::check(got == leaves * (leaves - 1) / 2, id, "wrong skynet sum");
  return ns;
}

double sleep100k() {
  constexpr long n = 100'000;
  latch wg(n);
  sbs::stopwatch sw;
  for (long i = 0; i < n; ++i)
    go_small([&wg] {
      boost::this_fiber::sleep_for(10ms);
      wg.done();
    });
  wg.wait();
  return sw.ns();
}

void parked_rss(const char* id, std::size_t n) {
  long before = sbs::current_rss_bytes();
  std::vector<std::unique_ptr<bf::unbuffered_channel<int>>> chans;
  chans.reserve(n);
  latch ready(static_cast<long>(n)), done(static_cast<long>(n));
  for (std::size_t i = 0; i < n; ++i) {
    chans.push_back(std::make_unique<bf::unbuffered_channel<int>>());
    go_small([c = chans.back().get(), &ready, &done] {
      ready.done();
      int v;
      c->pop(v);
      done.done();
    });
  }
  ready.wait();
  boost::this_fiber::sleep_for(50ms);
  long after = sbs::current_rss_bytes();
  for (auto& c : chans) c->close();
  done.wait();
  sbs::report(id, static_cast<double>(after - before) / 1024.0 / static_cast<double>(n), "KiB");
}

// fork-join fib: fib(n-1) in a new fiber, fib(n-2) inline, join. No cutoff.
long fib(int n) {
  if (n < 2) return n;
  long a = 0;
  bf::fiber child(bf::launch::dispatch, std::allocator_arg, bf::fixedsize_stack(small_stack_size),
                  [&a, n] { a = fib(n - 1); });
  long b = fib(n - 2);
  child.join();
  return a + b;
}

// ---- sync -------------------------------------------------------------------------

double mutex8(std::size_t n) {
  constexpr int goroutines = 8;
  n -= n % goroutines;
  bf::mutex mu;
  std::size_t counter = 0;
  latch wg(goroutines);
  sbs::stopwatch sw;
  for (int g = 0; g < goroutines; ++g)
    go([&] {
      for (std::size_t i = 0; i < n / goroutines; ++i) {
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

std::vector<sbs::workload> workloads() {
  return {
      {"pingpong", [] { sbs::per_op("pingpong", "ns/op", sbs::scaled(500'000), pingpong); }},
      {"buffered_1p1c",
       [] { sbs::per_op("buffered_1p1c", "ns/item", sbs::scaled(4'000'000), buffered_1p1c); }},
      {"contended_4p4c",
       [] { sbs::per_op("contended_4p4c", "ns/item", sbs::scaled(3'000'000), contended_4p4c); }},
      {"select2", [] { sbs::pending("select2", "Boost.Fiber has no select"); }},
      {"select2_unbuf", [] { sbs::pending("select2_unbuf", "Boost.Fiber has no select"); }},
      {"select_default", [] { sbs::pending("select_default", "Boost.Fiber has no select"); }},
      {"close_broadcast", close_broadcast},
      {"spawn", [] { sbs::per_op("spawn", "ns/op", sbs::scaled(1'000'000), spawn); }},
      {"yield", [] { sbs::per_op("yield", "ns/op", sbs::scaled(2'000'000), yield_rt); }},
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
      {"sieve", sieve_workload},
      {"mutex8", [] { sbs::per_op("mutex8", "ns/op", sbs::scaled(10'000'000), mutex8); }},
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
      {"fib30",
       [] {
         fib(25);
         sbs::stopwatch sw;
         long got = fib(30);
         double ns = sw.ns();
         sbs::check(got == 832040, "fib30", "wrong fib(30)");
         sbs::report("fib30", ns / 1e6, "ms");
       }},
      {"pipeline", [] { sbs::per_op("pipeline", "ns/item", sbs::scaled(10'000'000), pipeline); }},
      {"rwmutex_read", [] { sbs::pending("rwmutex_read", "Boost.Fiber has no RW mutex"); }},
      {"waitgroup", [] { sbs::pending("waitgroup", "Boost.Fiber has no WaitGroup"); }},
      {"with_cancel", [] { sbs::pending("with_cancel", "Boost.Fiber has no context"); }},
  };
}

}  // namespace

int main(int argc, char** argv) {
  // Our own flags first: --spin, --stack KIB; the rest is the common protocol.
  bool suspend = true;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--spin" || a == "-spin") {
      suspend = false;
    } else if ((a == "--stack" || a == "-stack") && i + 1 < argc) {
      small_stack_size = static_cast<std::size_t>(std::atol(argv[++i])) * 1024;
    } else {
      rest.push_back(argv[i]);
    }
  }
  sbs::parse(static_cast<int>(rest.size()), rest.data());
  auto ws = workloads();
  if (sbs::opts().list) {
    sbs::list(ws);
    return 0;
  }
  if (sbs::unknown_ids(ws)) return 2;
  pool p(procs(), suspend);
  sbs::run_selected(ws);
  return 0;
}
