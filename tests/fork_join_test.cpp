// Fork-join with continuation stealing: goro::task_group and the per-P
// Chase-Lev deque under it (src/wsdeque.hpp).
#include <gtest/gtest.h>
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <goro/goro.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "export_test.hpp"
#include "test_util.hpp"
#include "wsdeque.hpp"

using goro_test::scaled;

namespace {

long fib_serial(int n) { return n < 2 ? n : fib_serial(n - 1) + fib_serial(n - 2); }

// One task per call, the seed's shape: fork fib(n-1), compute fib(n-2), join.
long fib(int n) {
  if (n < 2) return n;
  long a = 0, b = 0;
  goro::task_group tg;
  tg.go([&a, n] { a = fib(n - 1); });
  b = fib(n - 2);
  tg.wait();
  return a + b;
}

// The same with goro::go (parent-first) and a wait_group.
long fib_go(int n) {
  if (n < 2) return n;
  long a = 0, b = 0;
  goro::wait_group wg;
  wg.add(1);
  goro::go([&] {
    a = fib_go(n - 1);
    wg.done();
  });
  b = fib_go(n - 2);
  wg.wait();
  return a + b;
}

// pthread_self is declared `const`: without the barrier a compiler may reuse
// a value read before a switch point after it (PITFALLS.md).
[[gnu::noinline]] pthread_t current_thread() {
  asm volatile("" ::: "memory");
  return pthread_self();
}

// Runs body with GOMAXPROCS n, restoring the previous value. A P beyond the
// new count retires only at its M's next trip through the scheduler (a spinner
// that read the old count may still steal once): settle before relying on it.
template <class F>
void with_procs(int n, F&& body) {
  int old = goro::set_max_procs(n);
  goro_test::settle();
  body();
  goro::set_max_procs(old);
}

// A log the order tests append to; locked, so that a test whose ordering
// assumption breaks fails on its assertion rather than racing.
template <class T>
class ordered_log {
 public:
  void add(T v) {
    std::lock_guard lk(mu_);
    items_.push_back(std::move(v));
  }
  std::vector<T> items() {
    std::lock_guard lk(mu_);
    return items_;
  }

 private:
  std::mutex mu_;
  std::vector<T> items_;
};

}  // namespace

// ---- the deque alone -------------------------------------------------------------

TEST(WsDeque, OwnerIsLifoThievesFifo) {
  goro::detail::wsdeque<std::uintptr_t, 8> d;
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(d.pop(), 0u);
  EXPECT_EQ(d.steal(), 0u);
  for (std::uintptr_t i = 1; i <= 8; ++i) EXPECT_TRUE(d.push(i));
  EXPECT_FALSE(d.push(9)) << "bounded: a full deque refuses";
  EXPECT_EQ(d.size(), 8u);
  EXPECT_EQ(d.pop(), 8u);
  EXPECT_EQ(d.steal(), 1u);
  EXPECT_EQ(d.steal(), 2u);
  EXPECT_EQ(d.pop(), 7u);
  EXPECT_TRUE(d.push(10));
  EXPECT_TRUE(d.push(11));
  EXPECT_TRUE(d.push(12));  // wraps around the ring
  EXPECT_EQ(d.pop(), 12u);
  std::vector<std::uintptr_t> rest;
  while (std::uintptr_t x = d.steal()) rest.push_back(x);
  EXPECT_EQ(rest, (std::vector<std::uintptr_t>{3, 4, 5, 6, 10, 11}));
  EXPECT_TRUE(d.empty());
}

// Every pushed item is taken exactly once, by the owner or by one of the thieves,
// with the owner racing thieves for the last item over and over.
TEST(WsDeque, EachItemTakenOnceUnderContention) {
  constexpr std::size_t cap = 64;
  goro::detail::wsdeque<std::uintptr_t, cap> d;
  const std::uintptr_t n = static_cast<std::uintptr_t>(scaled(400'000));
  std::vector<std::atomic<int>> taken(n + 1);
  std::atomic<bool> stop{false};
  std::atomic<long> stolen{0};
  auto thief = [&] {
    while (!stop.load(std::memory_order_acquire)) {
      if (std::uintptr_t x = d.steal()) {
        taken[x].fetch_add(1, std::memory_order_relaxed);
        stolen.fetch_add(1, std::memory_order_relaxed);
      }
    }
  };
  std::thread t1(thief), t2(thief);
  std::uintptr_t next = 1;
  long popped = 0;
  while (next <= n) {
    // Push a few (sometimes just one: the last-item race), pop some.
    int k = 1 + static_cast<int>(next % 5);
    for (int i = 0; i < k && next <= n; ++i) {
      if (!d.push(next)) break;
      ++next;
    }
    for (int i = 0; i < k / 2 + 1; ++i) {
      if (std::uintptr_t x = d.pop()) {
        taken[x].fetch_add(1, std::memory_order_relaxed);
        ++popped;
      }
    }
  }
  while (std::uintptr_t x = d.pop()) {
    taken[x].fetch_add(1, std::memory_order_relaxed);
    ++popped;
  }
  while (!d.empty()) std::this_thread::yield();  // a thief may hold the last one
  stop.store(true, std::memory_order_release);
  t1.join();
  t2.join();
  for (std::uintptr_t i = 1; i <= n; ++i) ASSERT_EQ(taken[i].load(), 1) << "item " << i;
  EXPECT_EQ(popped + stolen.load(), static_cast<long>(n));
}

// ---- task_group ----------------------------------------------------------------

TEST(ForkJoin, FibMatchesSerial) {
  for (int n : {0, 1, 2, 10, 20}) {
    long got = goro::run([n] { return fib(n); });
    EXPECT_EQ(got, fib_serial(n)) << "fib(" << n << ")";
  }
}

TEST(ForkJoin, ChildRunsFirstParentResumesAfterIt) {
  with_procs(1, [] {
    goro::run([] {
      ordered_log<std::string> order;
      goro::task_group tg;
      tg.go([&] { order.add("child 1"); });
      order.add("parent");
      tg.go([&] {
        order.add("child 2");
        goro::yield();  // the parent's continuation is next on this P: it runs now
        order.add("child 2 again");
      });
      order.add("parent again");
      tg.wait();
      EXPECT_EQ(order.items(), (std::vector<std::string>{"child 1", "parent", "child 2",
                                                         "parent again", "child 2 again"}));
    });
  });
}

TEST(ForkJoin, GoKeepsParentFirstOrder) {
  with_procs(1, [] {
    goro::run([] {
      ordered_log<int> order;
      goro::wait_group wg;
      wg.go([&] { order.add(2); });
      order.add(1);
      wg.wait();
      EXPECT_EQ(order.items(), (std::vector<int>{1, 2}));
    });
  });
}

TEST(ForkJoin, NestedGroups) {
  std::atomic<int> leaves{0};
  goro::run([&] {
    goro::task_group outer;
    for (int i = 0; i < 10; ++i) {
      outer.go([&] {
        goro::task_group mid;
        for (int j = 0; j < 10; ++j) {
          mid.go([&] {
            goro::task_group inner;
            for (int k = 0; k < 10; ++k) inner.go([&] { leaves.fetch_add(1); });
            inner.wait();
          });
        }
        mid.wait();
      });
    }
    outer.wait();
    EXPECT_EQ(leaves.load(), 1000);
  });
}

TEST(ForkJoin, ManyChildrenThatBlock) {
  // Each child parks on a channel the parent closes only after forking them
  // all: a parked child must hand the thread back to its parent's continuation.
  const int n = scaled(20'000);
  std::atomic<int> done{0};
  goro::run([&] {
    auto gate = goro::make_chan<void>();
    goro::task_group tg;
    for (int i = 0; i < n; ++i) {
      tg.go([&, gate]() mutable {
        gate.recv();
        done.fetch_add(1, std::memory_order_relaxed);
      });
    }
    EXPECT_GE(goro::num_goroutine(), static_cast<std::size_t>(n));
    gate.close();
    tg.wait();
    EXPECT_EQ(done.load(), n);
  });
}

TEST(ForkJoin, TasksForkSiblingsOnTheirGroup) {
  std::atomic<int> ran{0};
  goro::run([&] {
    goro::task_group tg;
    for (int i = 0; i < 10; ++i) {
      tg.go([&] {
        ran.fetch_add(1);
        for (int j = 0; j < 10; ++j) tg.go([&] { ran.fetch_add(1); });
      });
    }
    tg.wait();
    EXPECT_EQ(ran.load(), 110);
  });
}

TEST(ForkJoin, ReusableAfterWait) {
  goro::run([] {
    goro::task_group tg;
    int sum = 0;
    for (int round = 0; round < 100; ++round) {
      int a = 0, b = 0;
      tg.go([&] { a = round; });
      tg.go([&] { b = 1; });
      tg.wait();
      sum += a + b;
    }
    EXPECT_EQ(sum, 99 * 100 / 2 + 100);
    tg.wait();  // nothing left: returns at once
  });
}

TEST(ForkJoin, WaitFromPlainThread) {
  // No goroutine: go() queues like goro::go, wait() blocks this thread.
  ASSERT_FALSE(goro::in_goroutine());
  std::atomic<int> ran{0};
  long f = 0;
  {
    goro::task_group tg;
    for (int i = 0; i < 100; ++i) tg.go([&] { ran.fetch_add(1); });
    tg.go([&] { f = fib(18); });  // inside a goroutine: child-first from here on
    tg.wait();
    EXPECT_EQ(ran.load(), 100);
    EXPECT_EQ(f, fib_serial(18));
  }
  // The destructor joins too.
  std::atomic<bool> late{false};
  {
    goro::task_group tg;
    tg.go([&] {
      goro::sleep(std::chrono::milliseconds(20));
      late.store(true);
    });
  }
  EXPECT_TRUE(late.load());
}

TEST(ForkJoin, DestructorWaits) {
  goro::run([] {
    std::atomic<int> finished{0};
    {
      goro::task_group tg;
      for (int i = 0; i < 50; ++i) {
        tg.go([&] {
          goro::sleep(std::chrono::milliseconds(1));
          finished.fetch_add(1);
        });
      }
    }
    EXPECT_EQ(finished.load(), 50);
  });
}

TEST(ForkJoin, ExceptionRethrownFromWait) {
  goro::run([] {
    goro::task_group tg;
    std::atomic<int> others{0};
    tg.go([] { throw std::runtime_error("boom"); });
    for (int i = 0; i < 10; ++i) tg.go([&] { others.fetch_add(1); });
    try {
      tg.wait();
      ADD_FAILURE() << "wait() did not rethrow";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "boom");
    }
    EXPECT_EQ(others.load(), 10) << "wait() rethrows only after every task finished";
    // The group is clean again.
    tg.go([&] { others.fetch_add(1); });
    EXPECT_NO_THROW(tg.wait());
    EXPECT_EQ(others.load(), 11);
  });
}

TEST(ForkJoin, FirstOfManyExceptionsWins) {
  goro::run([] {
    goro::task_group tg;
    for (int i = 0; i < 100; ++i) {
      tg.go([i] {
        goro::yield();
        throw std::runtime_error("task " + std::to_string(i));
      });
    }
    int caught = 0;
    try {
      tg.wait();
    } catch (const std::runtime_error&) {
      ++caught;
    }
    EXPECT_EQ(caught, 1);
  });
}

TEST(ForkJoin, ExceptionPropagatesThroughNestedJoins) {
  goro::run([] {
    std::function<void(int)> dive = [&](int depth) {
      goro::task_group tg;
      tg.go([&, depth] {
        if (depth == 0) throw std::out_of_range("bottom");
        dive(depth - 1);
      });
      tg.wait();
    };
    EXPECT_THROW(dive(20), std::out_of_range);
  });
}

TEST(ForkJoin, ParentThrowingBeforeWaitStillJoins) {
  // Unwinding through a task_group waits for its tasks, which may use the
  // unwound frame's locals until then; their own exceptions are dropped.
  goro::run([] {
    std::atomic<int> finished{0};
    try {
      goro::task_group tg;
      for (int i = 0; i < 10; ++i) {
        tg.go([&] {
          goro::sleep(std::chrono::milliseconds(2));
          finished.fetch_add(1);
          throw std::logic_error("dropped");
        });
      }
      throw std::runtime_error("parent");
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "parent");
    }
    EXPECT_EQ(finished.load(), 10);
  });
}

TEST(ForkJoin, DeepChainOverflowsTheDeque) {
  // Each task forks one child on its own group: a chain of suspended parents
  // deeper than the deque (1024) spills to the run queue and still joins.
  const int depth = 3000;
  std::function<int(int)> chain = [&](int d) -> int {
    if (d == 0) return 0;
    int r = 0;
    goro::task_group tg;
    tg.go([&] { r = chain(d - 1); });
    tg.wait();
    return r + 1;
  };
  EXPECT_EQ(goro::run([&] { return chain(depth); }), depth);
}

TEST(ForkJoin, PeakLiveGoroutinesBounded) {
  // Child-first keeps one chain of suspended parents per P (plus parked
  // joiners whose continuation was stolen): O(depth x P) goroutines. The
  // parent-first version, on the same input, holds far more.
  const int n = 20;
  const int procs = goro::max_procs();
  goro::detail::goroutine_peak_begin();
  EXPECT_EQ(goro::run([] { return fib(n); }), fib_serial(n));
  std::size_t child_first = goro::detail::goroutine_peak_end();
  goro::detail::goroutine_peak_begin();
  EXPECT_EQ(goro::run([] { return fib_go(n); }), fib_serial(n));
  std::size_t parent_first = goro::detail::goroutine_peak_end();
  std::printf("fib(%d) on %d Ps: peak live goroutines %zu child-first, %zu parent-first\n", n,
              procs, child_first, parent_first);
  EXPECT_LE(child_first, static_cast<std::size_t>(4 * n * procs + 8));
}

TEST(ForkJoin, IdlePStealsContinuations) {
  with_procs(2, [] {
    auto before = goro::detail::sched_statistics();
    bool stolen = false;
    for (int attempt = 0; attempt < 50 && !stolen; ++attempt) {
      // Leaves that take a little while, so the other P has time to wake.
      std::function<long(int)> work = [&](int n) -> long {
        if (n < 2) {
          volatile long x = 0;
          for (int i = 0; i < 200; ++i) x = x + i;
          return n;
        }
        long a = 0, b = 0;
        goro::task_group tg;
        tg.go([&] { a = work(n - 1); });
        b = work(n - 2);
        tg.wait();
        return a + b;
      };
      EXPECT_EQ(goro::run([&] { return work(18); }), fib_serial(18));
      stolen = goro::detail::sched_statistics().cont_steals > before.cont_steals;
    }
    EXPECT_TRUE(stolen) << "no continuation was ever stolen with 2 Ps";
  });
}

TEST(ForkJoin, ThievesResumeContinuationsOnOtherThreads) {
  // A stolen continuation runs on the thief's thread: thread-local state
  // the runtime keeps per goroutine (errno, exception state) must follow it.
  with_procs(2, [] {
    std::atomic<int> moved{0};
    for (int attempt = 0; attempt < 50 && moved.load() == 0; ++attempt) {
      goro::run([&] {
        goro::task_group tg;
        for (int i = 0; i < 64; ++i) {
          pthread_t before = current_thread();
          tg.go([] {
            volatile long x = 0;
            for (int j = 0; j < 20'000; ++j) x = x + j;
          });
          if (!pthread_equal(current_thread(), before)) moved.fetch_add(1);
        }
        tg.wait();
      });
    }
    EXPECT_GT(moved.load(), 0) << "no continuation moved to another thread";
  });
}

TEST(ForkJoin, ContinuationOfASpinningChildIsHandedOff) {
  // One P, and a child that spins until its parent's continuation runs: only
  // sysmon can make progress, by taking the P from the spinning M because
  // work (the continuation in the P's deque) waits behind it.
  with_procs(1, [] {
    goro::run([] {
      std::atomic<bool> parent_ran{false};
      goro::task_group tg;
      tg.go([&] {
        while (!parent_ran.load(std::memory_order_acquire)) {
        }
      });
      parent_ran.store(true, std::memory_order_release);
      tg.wait();
    });
  });
}

TEST(ForkJoin, StressMixedWithGoroutinesAndResizes) {
  // Several independent fork-join trees whose leaves block (channels, sleep,
  // yield) interleaved with parent-first goroutines, while GOMAXPROCS changes
  // (a retired P hands its continuations over).
  const int trees = 4;
  const int rounds = scaled(100);
  std::atomic<bool> stop{false};
  std::atomic<long> total{0};
  goro::run([&] {
    goro::wait_group resizer;
    resizer.go([&] {
      int k = 0;
      while (!stop.load()) {
        goro::set_max_procs(1 + (k++ % 3));
        goro::sleep(std::chrono::microseconds(300));
      }
      goro::set_max_procs(2);
    });
    goro::wait_group wg;
    for (int t = 0; t < trees; ++t) {
      wg.go([&, t] {
        auto ping = goro::make_chan<int>(1);
        std::function<long(int)> tree = [&](int n) -> long {
          if (n < 2) {
            switch ((n + t) % 4) {
              case 0: goro::yield(); break;
              case 1: {
                ping.send(1);
                ping.recv();
                break;
              }
              case 2: {
                goro::wait_group inner;
                inner.go([] {});
                inner.wait();
                break;
              }
              default: break;
            }
            return n;
          }
          long a = 0, b = 0, c = 0;
          goro::task_group tg;
          tg.go([&] { a = tree(n - 1); });
          tg.go([&] { b = tree(n - 2); });
          if (n % 5 == 0) tg.go([&] { c = tree(2); });
          tg.wait();
          return a + b + (n % 5 == 0 ? c - 1 : 0);
        };
        for (int r = 0; r < rounds; ++r) total.fetch_add(tree(12));
      });
    }
    wg.wait();
    stop.store(true);
    resizer.wait();
  });
  EXPECT_EQ(total.load(), static_cast<long>(trees) * rounds * fib_serial(12));
}

