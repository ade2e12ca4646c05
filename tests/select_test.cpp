// select: a port of the select checks in Go's src/runtime/chan_test.go
// (TestNonblockRecvRace, TestNonblockSelectRace{,2}, TestSelfSelect,
// TestSelectStress, TestSelectFairness, TestPseudoRandomSend,
// TestSelectDuplicateChannel) plus the rules of API.md §3: handlers, return
// index, nil cases, chan<void> cases, the dynamic form, block_forever, and
// select between plain threads and goroutines.

#include <goro/chan.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

namespace {

using goro_test::eventually;
using goro_test::scaled;
using goro_test::settle;

// Pearson's chi-square statistic of `observed` against a uniform distribution.
double chi_square_uniform(const std::vector<long>& observed) {
  double total = 0;
  for (long o : observed) total += static_cast<double>(o);
  const double expected = total / static_cast<double>(observed.size());
  double chi2 = 0;
  for (long o : observed) {
    const double d = static_cast<double>(o) - expected;
    chi2 += d * d / expected;
  }
  return chi2;
}

// Chi-square thresholds, far in the tail so a uniform chooser passes with
// overwhelming probability: P(X > 40 | 2 dof) = e^-20 ~ 2e-9,
// P(X > 60 | 8 dof) ~ 5e-10. A chooser that always takes the first ready case,
// or scans from a random start (favouring the case after a non-ready one), or
// rotates deterministically, lands in the hundreds or thousands.
constexpr double kChi2Limit2Dof = 40.0;
constexpr double kChi2Limit8Dof = 60.0;

// Restores GOMAXPROCS when it goes out of scope.
struct max_procs_guard {
  explicit max_procs_guard(int n) : prev(goro::set_max_procs(n)) {}
  ~max_procs_guard() { goro::set_max_procs(prev); }
  int prev;
};

// ---------------------------------------------------------------------------
// Ports of Go's runtime tests.

// A non-blocking receive on a channel that has a value or is closed never takes
// the default case.
TEST(SelectTest, NonblockRecvRace) {
  const int n = scaled(10000);
  std::atomic<int> took_default{0};
  goro::run([&] {
    goro::wait_group wg;
    for (int i = 0; i < n; ++i) {
      auto c = goro::make_chan<int>(1);
      c.send(1);
      wg.add(1);
      goro::go([c, &took_default, &wg]() mutable {
        if (goro::select(goro::recv(c), goro::default_case()) != 0) took_default.fetch_add(1);
        wg.done();
      });
      c.close();
      (void)c.recv();
    }
    wg.wait();
  });
  EXPECT_EQ(took_default.load(), 0) << "select took default on a ready channel";
}

// select acts on the state of its channels at one moment, not over a smeared
// window: from the second goroutine's start, c1 or c2 is always ready, so the
// non-blocking select must never take default.
TEST(SelectTest, NonblockSelectRace) {
  const int n = scaled(10000);
  int failures = 0;
  goro::run([&] {
    auto done = goro::make_chan<bool>(1);
    for (int i = 0; i < n; ++i) {
      auto c1 = goro::make_chan<int>(1);
      auto c2 = goro::make_chan<int>(1);
      c1.send(1);
      goro::go([c1, c2, done]() mutable {
        auto k = goro::select(goro::recv(c1), goro::recv(c2), goro::default_case());
        done.send(k != 2);
      });
      c2.send(1);
      (void)goro::select(goro::recv(c1), goro::default_case());
      if (done.recv() != true) ++failures;
    }
  });
  EXPECT_EQ(failures, 0) << "no channel was ready in " << failures << " of " << n << " selects";
}

// Same, but closing c2 (unbuffered) replaces sending on it.
TEST(SelectTest, NonblockSelectRace2) {
  const int n = scaled(10000);
  int failures = 0;
  goro::run([&] {
    auto done = goro::make_chan<bool>(1);
    for (int i = 0; i < n; ++i) {
      auto c1 = goro::make_chan<int>(1);
      auto c2 = goro::make_chan<int>();
      c1.send(1);
      goro::go([c1, c2, done]() mutable {
        auto k = goro::select(goro::recv(c1), goro::recv(c2), goro::default_case());
        done.send(k != 2);
      });
      c2.close();
      (void)goro::select(goro::recv(c1), goro::default_case());
      if (done.recv() != true) ++failures;
    }
  });
  EXPECT_EQ(failures, 0);
}

// Send and receive on the same channel in one select neither crash nor deadlock,
// and on an unbuffered channel a goroutine never receives its own value.
TEST(SelectTest, SelfSelect) {
  const int iters = scaled(1000);
  for (std::size_t cap : {std::size_t{0}, std::size_t{10}}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<int>(cap);
    std::atomic<int> self_receives{0};
    goro::wait_group wg;
    for (int p = 0; p < 2; ++p) {
      wg.go([&, p] {
        auto on_recv = [&](std::optional<int> v) {
          if (cap == 0 && v && *v == p) self_receives.fetch_add(1);
        };
        for (int i = 0; i < iters; ++i) {
          if (p == 0 || i % 2 == 0) {
            (void)goro::select(goro::send(c, p), goro::recv(c, on_recv));
          } else {
            (void)goro::select(goro::recv(c, on_recv), goro::send(c, p));
          }
        }
      });
    }
    wg.wait();
    EXPECT_EQ(self_receives.load(), 0);
  }
}

// Plain sends/receives and one select-sender and one select-receiver over four
// channels interact chaotically; the whole must neither deadlock nor lose values.
TEST(SelectTest, SelectStress) {
  max_procs_guard procs(4);
  const int N = scaled(10000);
  std::array<goro::chan<int>, 4> c = {goro::make_chan<int>(), goro::make_chan<int>(),
                                      goro::make_chan<int>(2), goro::make_chan<int>(3)};
  std::array<std::atomic<int>, 4> received{};
  goro::wait_group wg;
  for (int k = 0; k < 4; ++k) {
    wg.go([&, k] {
      for (int i = 0; i < N; ++i) c[k].send(k);
    });
    wg.go([&, k] {
      for (int i = 0; i < N; ++i) {
        auto v = c[k].recv();
        if (v == k) received[k].fetch_add(1);
      }
    });
  }
  wg.go([&] {
    std::array<int, 4> n{};
    auto c1 = c;
    // Case i of the select sends on channel order[i].
    constexpr std::array<int, 4> order = {3, 2, 0, 1};
    for (int i = 0; i < 4 * N; ++i) {
      auto idx = goro::select(goro::send(c1[3], 3), goro::send(c1[2], 2), goro::send(c1[0], 0),
                              goro::send(c1[1], 1));
      ASSERT_LT(idx, 4u);
      const int k = order[idx];
      if (++n[k] == N) c1[k] = goro::chan<int>();  // done with it: a nil case from now on
    }
    for (int k = 0; k < 4; ++k) EXPECT_EQ(n[k], N);
  });
  wg.go([&] {
    std::array<int, 4> n{};
    auto c1 = c;
    for (int i = 0; i < 4 * N; ++i) {
      std::optional<int> v;
      auto idx = goro::select(goro::recv(c1[0], v), goro::recv(c1[1], v), goro::recv(c1[2], v),
                              goro::recv(c1[3], v));
      ASSERT_LT(idx, 4u);
      const int k = static_cast<int>(idx);
      if (v == k) received[k].fetch_add(1);
      if (++n[k] == N) c1[k] = goro::chan<int>();
    }
  });
  wg.wait();
  for (int k = 0; k < 4; ++k) EXPECT_EQ(received[k].load(), 2 * N) << "channel " << k;
}

// TestSelectFairness, as Go has it: two always-ready buffered channels among
// four cases; each must win about half the time (within 10 sigma).
TEST(SelectTest, FairnessGoPort) {
  constexpr int trials = 10000;
  auto c1 = goro::make_chan<char>(trials + 1);
  auto c2 = goro::make_chan<char>(trials + 1);
  for (int i = 0; i < trials + 1; ++i) {
    c1.send(1);
    c2.send(2);
  }
  auto c3 = goro::make_chan<char>();
  auto c4 = goro::make_chan<char>();
  auto out = goro::make_chan<char>();
  auto done = goro::make_chan<void>();
  goro::wait_group wg;
  wg.go([&] {
    for (;;) {
      std::optional<char> b;
      (void)goro::select(goro::recv(c3, b), goro::recv(c4, b), goro::recv(c1, b), goro::recv(c2, b));
      bool stop = false;
      (void)goro::select(goro::send(out, b.value_or(0)), goro::recv(done, [&](bool) { stop = true; }));
      if (stop) return;
    }
  });
  int cnt1 = 0, cnt2 = 0, other = 0;
  for (int i = 0; i < trials; ++i) {
    switch (out.recv().value_or(0)) {
      case 1: ++cnt1; break;
      case 2: ++cnt2; break;
      default: ++other; break;
    }
  }
  done.close();
  wg.wait();
  EXPECT_EQ(other, 0);
  const double mean = trials * 0.5;
  const double stddev = std::sqrt(trials * 0.5 * 0.5);
  EXPECT_LE(std::abs(cnt1 - mean), 10 * stddev) << "unfair select: " << cnt1 << " vs " << cnt2;
}

// Three always-ready receive cases, with a never-ready case first and a nil case
// between them: each ready case must win a third of the time, and consecutive
// choices must be independent (pairs uniform over 3x3), so a deterministic
// rotation fails too. Runs on the (plain) test thread.
TEST(SelectTest, FairnessAmongReadyCases) {
  constexpr int N = 12000;
  auto never = goro::make_chan<int>();  // unbuffered, nobody sends
  goro::chan<int> nil;
  std::array<goro::chan<int>, 3> ch = {goro::make_chan<int>(1), goro::make_chan<int>(1),
                                       goro::make_chan<int>(1)};
  for (int k = 0; k < 3; ++k) ch[k].send(k);
  std::vector<long> counts(3, 0), pairs(9, 0);
  int prev = -1, wrong = 0;
  for (int i = 0; i < N; ++i) {
    int got = -1;
    auto on = [&](std::optional<int> v) { got = v.value_or(-2); };
    const std::size_t idx = goro::select(goro::recv(never), goro::recv(ch[0], on), goro::recv(nil),
                                         goro::recv(ch[1], on), goro::recv(ch[2], on));
    int k = idx == 1 ? 0 : idx == 3 ? 1 : idx == 4 ? 2 : -1;
    if (k < 0 || got != k) {
      ++wrong;
      continue;
    }
    ch[k].send(k);  // ready again
    ++counts[k];
    if (prev >= 0) ++pairs[prev * 3 + k];
    prev = k;
  }
  ASSERT_EQ(wrong, 0) << "a never-ready or nil case fired, or a handler got the wrong value";
  const double chi2 = chi_square_uniform(counts);
  const double chi2_pairs = chi_square_uniform(pairs);
  EXPECT_LT(chi2, kChi2Limit2Dof) << "counts " << counts[0] << " " << counts[1] << " " << counts[2];
  EXPECT_LT(chi2_pairs, kChi2Limit8Dof) << "consecutive choices are not independent";
}

// The dynamic form, one vector reused for every select, with three ready cases of
// different kinds (receive with a value, send with room, receive on closed).
TEST(SelectTest, FairnessDynamicMixedKinds) {
  constexpr int N = 12000;
  goro::chan<int> nil;
  auto never = goro::make_chan<int>();
  auto a = goro::make_chan<int>(1);
  auto b = goro::make_chan<int>(1);
  auto closed = goro::make_chan<int>();
  closed.close();
  a.send(1);
  std::optional<int> from_a, from_closed;
  std::vector<goro::select_case> cases;
  cases.push_back(goro::recv(nil));
  cases.push_back(goro::recv(a, from_a));        // 1: ready (refilled)
  cases.push_back(goro::recv(never));
  cases.push_back(goro::send(b, 7));             // 3: ready (drained)
  cases.push_back(goro::recv(closed, from_closed));  // 4: always ready
  cases.push_back(goro::send(never, 1));
  std::vector<long> counts(3, 0);
  int wrong = 0;
  for (int i = 0; i < N; ++i) {
    from_a = 0;
    from_closed = 0;
    const std::size_t idx = goro::select(cases);
    switch (idx) {
      case 1:
        if (from_a != 1) ++wrong;
        a.send(1);
        ++counts[0];
        break;
      case 3:
        if (b.recv() != 7) ++wrong;
        ++counts[1];
        break;
      case 4:
        if (from_closed.has_value()) ++wrong;  // closed: out is set to nullopt
        ++counts[2];
        break;
      default:
        ++wrong;
    }
  }
  ASSERT_EQ(wrong, 0);
  EXPECT_LT(chi_square_uniform(counts), kChi2Limit2Dof)
      << "counts " << counts[0] << " " << counts[1] << " " << counts[2];
}

// TestPseudoRandomSend: two ready send cases on the same channel are both chosen.
TEST(SelectTest, PseudoRandomSend) {
  constexpr int n = 100;
  for (std::size_t cap : {std::size_t{0}, std::size_t{n}}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<int>(cap);
    std::vector<int> l(n, -1);
    goro::wait_group wg;
    wg.go([&] {
      for (int i = 0; i < n; ++i) {
        goro::yield();
        l[i] = c.recv().value_or(-1);
      }
    });
    for (int i = 0; i < n; ++i) (void)goro::select(goro::send(c, 1), goro::send(c, 0));
    wg.wait();
    int n0 = 0, n1 = 0;
    for (int v : l) {
      n0 += v == 0;
      n1 += v == 1;
    }
    EXPECT_EQ(n0 + n1, n);
    EXPECT_GT(n0, n / 10) << "want pseudo-random, got " << n0 << " zeros and " << n1 << " ones";
    EXPECT_GT(n1, n / 10) << "want pseudo-random, got " << n0 << " zeros and " << n1 << " ones";
  }
}

// TestSelectDuplicateChannel: a goroutine may be queued on the same channel
// several times; waking it through another channel must leave the queue sound.
TEST(SelectTest, DuplicateChannel) {
  auto c = goro::make_chan<int>();
  auto d = goro::make_chan<int>();
  auto e = goro::make_chan<int>();
  std::size_t a_idx = 99;
  std::atomic<bool> a_started{false};
  goro::wait_group wg;
  wg.go([&] {  // goroutine A
    a_started = true;
    a_idx = goro::select(goro::recv(c), goro::recv(c), goro::recv(d));
    e.send(9);
  });
  ASSERT_TRUE(eventually([&] { return a_started.load(); }));
  settle();  // A queues first on c (twice)
  // Goroutine B owns its state, so that a broken queue fails this test instead
  // of hanging it: B is then left blocked.
  struct b_state {
    std::atomic<bool> started{false}, done{false};
    std::atomic<int> got{0};
  };
  auto b = std::make_shared<b_state>();
  goro::go([b, c]() mutable {
    b->started = true;
    b->got = c.recv().value_or(-1);
    b->done = true;
  });
  ASSERT_TRUE(eventually([&] { return b->started.load(); }));
  settle();  // B queues on c after A
  d.send(7);  // wakes A, which must dequeue itself from c (both entries)
  EXPECT_EQ(e.recv(), 9);
  wg.wait();
  EXPECT_EQ(a_idx, 2u);
  c.send(8);  // must reach B, not a stale entry of A
  ASSERT_TRUE(eventually([&] { return b->done.load(); })) << "B was never woken";
  EXPECT_EQ(b->got.load(), 8);
}

// The same channel twice in one select: one value fires exactly one case.
TEST(SelectTest, DuplicateChannelFiresOnce) {
  auto c = goro::make_chan<int>();
  std::atomic<int> fired{0};
  goro::wait_group wg;
  wg.go([&] {
    auto h = [&](std::optional<int> v) {
      if (v == 5) fired.fetch_add(1);
    };
    (void)goro::select(goro::recv(c, h), goro::recv(c, h));
  });
  c.send(5);
  wg.wait();
  EXPECT_EQ(fired.load(), 1);
  EXPECT_EQ(goro::select(goro::send(c, 6), goro::default_case()), 1u) << "a stale receiver remained";
}

// ---------------------------------------------------------------------------
// Return index, handlers, out parameters, default.

TEST(SelectTest, ReturnsIndexOfCaseThatRan) {
  auto c = goro::make_chan<int>(1);
  auto full = goro::make_chan<int>(1);
  full.send(0);
  goro::chan<int> nil;
  EXPECT_EQ(goro::select(goro::recv(c), goro::recv(nil), goro::default_case()), 2u);
  EXPECT_EQ(goro::select(goro::recv(nil), goro::send(full, 1), goro::send(c, 3)), 2u);
  EXPECT_EQ(goro::select(goro::send(full, 1), goro::recv(c), goro::default_case()), 1u);
  EXPECT_EQ(goro::select(goro::default_case()), 0u);
}

TEST(SelectTest, RecvHandlerGetsValueAfterCaseFired) {
  auto never = goro::make_chan<int>();
  auto c = goro::make_chan<int>(1);
  c.send(41);
  int seen = 0;
  bool default_ran = false;
  auto idx = goro::select(goro::recv(never, [&](std::optional<int>) { seen = -1; }),
                          goro::recv(c,
                                     [&](std::optional<int> v) {
                                       ASSERT_TRUE(v.has_value());
                                       seen = *v;
                                       EXPECT_EQ(c.len(), 0u) << "handler ran before the receive";
                                       c.send(*v + 1);  // no channel lock is held here
                                     }),
                          goro::default_case([&] { default_ran = true; }));
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(seen, 41);
  EXPECT_FALSE(default_ran);
  EXPECT_EQ(c.recv(), 42);
}

TEST(SelectTest, SendHandlerRunsAfterValueWasSent) {
  auto c = goro::make_chan<int>(1);
  bool ran = false;
  auto idx = goro::select(goro::send(c, 5, [&] {
    ran = true;
    EXPECT_EQ(c.len(), 1u) << "handler ran before the send";
    EXPECT_EQ(c.recv(), 5);  // no channel lock is held here
  }));
  EXPECT_EQ(idx, 0u);
  EXPECT_TRUE(ran);
  EXPECT_EQ(c.len(), 0u);

  // Unbuffered: when the handler runs, the receiver has taken the value.
  auto u = goro::make_chan<int>();
  std::atomic<bool> receiver_arrived{false};
  bool saw_receiver = false;
  goro::wait_group wg;
  wg.go([&] {
    (void)goro::select(goro::send(u, 9, [&] { saw_receiver = receiver_arrived.load(); }));
  });
  settle();
  receiver_arrived = true;
  EXPECT_EQ(u.recv(), 9);
  wg.wait();
  EXPECT_TRUE(saw_receiver);
}

TEST(SelectTest, DefaultHandlerRunsOnlyWhenNothingIsReady) {
  auto c = goro::make_chan<int>();
  int default_runs = 0, recv_runs = 0;
  for (int i = 0; i < 10; ++i) {
    auto idx = goro::select(goro::recv(c, [&](std::optional<int>) { ++recv_runs; }),
                            goro::default_case([&] { ++default_runs; }));
    EXPECT_EQ(idx, 1u);
  }
  EXPECT_EQ(default_runs, 10);
  EXPECT_EQ(recv_runs, 0);
}

TEST(SelectTest, RecvOutParameter) {
  auto c = goro::make_chan<int>(1);
  c.send(3);
  std::optional<int> out;
  EXPECT_EQ(goro::select(goro::recv(c, out)), 0u);
  EXPECT_EQ(out, 3);
  c.close();
  out = 17;
  EXPECT_EQ(goro::select(goro::recv(c, out)), 0u);
  EXPECT_EQ(out, std::nullopt) << "a receive on a closed channel sets out to nullopt";
  // An out parameter of a case that did not fire is left alone.
  auto never = goro::make_chan<int>();
  out = 17;
  EXPECT_EQ(goro::select(goro::recv(never, out), goro::default_case()), 1u);
  EXPECT_EQ(out, 17);
}

TEST(SelectTest, ClosedChannelRecvCaseIsAlwaysReady) {
  auto closed = goro::make_chan<int>(4);
  closed.send(1);
  closed.close();
  auto never = goro::make_chan<int>();
  std::vector<std::optional<int>> got;
  for (int i = 0; i < 3; ++i) {
    auto idx = goro::select(goro::recv(never), goro::recv(closed, [&](std::optional<int> v) { got.push_back(v); }));
    EXPECT_EQ(idx, 1u);
  }
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], 1);  // buffered value first
  EXPECT_EQ(got[1], std::nullopt);
  EXPECT_EQ(got[2], std::nullopt);
  // recv(ch) without handler also fires on a closed channel, default never runs.
  EXPECT_EQ(goro::select(goro::recv(closed), goro::default_case()), 0u);
}

// ---------------------------------------------------------------------------
// nil cases

TEST(SelectTest, NilCasesAreNeverReady) {
  goro::chan<int> nil;
  goro::chan<void> nil_signal;
  EXPECT_EQ(goro::select(goro::recv(nil), goro::send(nil, 1), goro::recv(nil_signal), goro::send(nil_signal),
                         goro::default_case()),
            4u);
  auto c = goro::make_chan<int>(1);
  for (int i = 0; i < 100; ++i) {
    c.send(i);
    std::optional<int> out;
    ASSERT_EQ(goro::select(goro::recv(nil), goro::send(nil, 1), goro::recv(c, out)), 2u);
    ASSERT_EQ(out, i);
  }
}

TEST(SelectTest, NilOrEmptySelectBlocksForeverInGoroutine) {
  // Goroutines blocked forever are left so; they own everything they use.
  auto started = std::make_shared<std::atomic<int>>(0);
  auto returned = std::make_shared<std::atomic<int>>(0);
  goro::go([started, returned] {
    goro::chan<int> nil;
    goro::chan<void> nil_signal;
    started->fetch_add(1);
    (void)goro::select(goro::recv(nil), goro::send(nil, 1), goro::recv(nil_signal));
    returned->fetch_add(1);
  });
  goro::go([started, returned] {
    std::vector<goro::select_case> none;
    started->fetch_add(1);
    (void)goro::select(none);
    returned->fetch_add(1);
  });
  goro::go([started, returned] {
    goro::chan<int> nil;
    std::vector<goro::select_case> nils;
    nils.push_back(goro::recv(nil));
    nils.push_back(goro::send(nil, 2));
    started->fetch_add(1);
    (void)goro::select(nils);
    returned->fetch_add(1);
  });
  ASSERT_TRUE(eventually([&] { return started->load() == 3; }));
  settle();
  // The program proceeds meanwhile.
  auto c = goro::make_chan<int>();
  goro::go([c]() mutable { c.send(1); });
  EXPECT_EQ(c.recv(), 1);
  settle();
  EXPECT_EQ(returned->load(), 0) << "a select with no ready-able case returned";
}

// More goroutines than Ps block forever (block_forever, nil channels, empty
// selects); they must park, not hold their threads, so others still run.
TEST(SelectTest, BlockedForeverGoroutinesDoNotStopOthers) {
  const int k = goro::max_procs() + 2;
  auto started = std::make_shared<std::atomic<int>>(0);
  auto returned = std::make_shared<std::atomic<int>>(0);
  for (int i = 0; i < k; ++i) {
    goro::go([started] {
      started->fetch_add(1);
      goro::block_forever();
    });
    goro::go([started, returned] {
      goro::chan<int> nil;
      started->fetch_add(1);
      (void)nil.recv();
      returned->fetch_add(1);
    });
    goro::go([started, returned] {
      std::vector<goro::select_case> none;
      started->fetch_add(1);
      (void)goro::select(none);
      returned->fetch_add(1);
    });
  }
  ASSERT_TRUE(eventually([&] { return started->load() == 3 * k; }));
  EXPECT_GE(goro::num_goroutine(), static_cast<std::size_t>(3 * k));
  // Two fresh goroutines can still play ping-pong.
  auto ping = goro::make_chan<int>();
  auto pong = goro::make_chan<int>();
  auto result = goro::make_chan<int>(1);
  goro::go([ping, pong]() mutable {
    for (int v : ping) pong.send(v + 1);
  });
  goro::go([ping, pong, result]() mutable {
    int v = 0;
    for (int i = 0; i < 100; ++i) {
      ping.send(v);
      v = pong.recv().value_or(-1000);
    }
    ping.close();
    result.send(v);
  });
  EXPECT_EQ(result.recv(), 100);
  EXPECT_EQ(returned->load(), 0);
}

// ---------------------------------------------------------------------------
// Blocking select: woken by the right event, withdrawn from the other channels.

TEST(SelectTest, BlockedRecvSelectIsWokenAndWithdrawsFromOtherChannels) {
  auto a = goro::make_chan<int>();
  auto b = goro::make_chan<int>();
  std::size_t idx = 99;
  std::optional<int> va, vb;
  goro::wait_group wg;
  wg.go([&] { idx = goro::select(goro::recv(a, va), goro::recv(b, vb)); });
  settle();
  b.send(2);
  wg.wait();
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(vb, 2);
  EXPECT_EQ(va, std::nullopt);
  // The select no longer waits on a: a non-blocking send finds no receiver.
  EXPECT_EQ(goro::select(goro::send(a, 1), goro::default_case()), 1u) << "stale receiver left on a";
}

TEST(SelectTest, BlockedSendSelectIsWokenAndWithdrawsFromOtherChannels) {
  auto a = goro::make_chan<int>();
  auto b = goro::make_chan<int>();
  std::size_t idx = 99;
  goro::wait_group wg;
  wg.go([&] { idx = goro::select(goro::send(a, 1), goro::send(b, 2)); });
  settle();
  EXPECT_EQ(b.recv(), 2);
  wg.wait();
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(goro::select(goro::recv(a), goro::default_case()), 1u) << "stale sender left on a";
}

TEST(SelectTest, SelectRecvTakesValueOfWaitingSender) {
  auto c = goro::make_chan<int>();
  goro::wait_group wg;
  wg.go([&] { c.send(4); });
  std::optional<int> out;
  // The sender may not have arrived yet: block (no default) until it has.
  EXPECT_EQ(goro::select(goro::recv(c, out)), 0u);
  EXPECT_EQ(out, 4);
  wg.wait();
}

TEST(SelectTest, CloseWakesBlockedSelectReceiver) {
  auto a = goro::make_chan<int>();
  auto b = goro::make_chan<int>();
  std::size_t idx = 99;
  std::optional<int> got = 5;
  bool handler_ran = false;
  goro::wait_group wg;
  wg.go([&] {
    idx = goro::select(goro::recv(a), goro::recv(b, [&](std::optional<int> v) {
      handler_ran = true;
      got = v;
    }));
  });
  settle();
  b.close();
  wg.wait();
  EXPECT_EQ(idx, 1u);
  EXPECT_TRUE(handler_ran);
  EXPECT_EQ(got, std::nullopt);
}

// Go: a select that chooses a send case on a closed channel panics.
TEST(SelectTest, SendCaseOnClosedChannelPanics) {
  auto c = goro::make_chan<int>(1);
  c.close();
  EXPECT_THROW((void)goro::select(goro::send(c, 1)), goro::panic_error);
  EXPECT_THROW((void)goro::select(goro::send(c, 1), goro::default_case()), goro::panic_error);

  // A select blocked in a send case panics when the channel is closed.
  auto u = goro::make_chan<int>();
  auto never = goro::make_chan<int>();
  std::atomic<bool> panicked{false}, returned{false};
  goro::wait_group wg;
  wg.go([&] {
    try {
      (void)goro::select(goro::send(u, 1), goro::recv(never));
      returned = true;
    } catch (const goro::panic_error&) {
      panicked = true;
    }
  });
  settle();
  EXPECT_FALSE(panicked.load() || returned.load());
  u.close();
  wg.wait();
  EXPECT_TRUE(panicked.load());
  EXPECT_FALSE(returned.load());
}

// ---------------------------------------------------------------------------
// Element and handle kinds.

TEST(SelectTest, SignalChannelCases) {
  auto s = goro::make_chan<void>(1);
  EXPECT_EQ(goro::select(goro::send(s), goro::default_case()), 0u);
  EXPECT_EQ(goro::select(goro::send(s), goro::default_case()), 1u);  // full
  EXPECT_EQ(s.len(), 1u);
  bool ok = false;
  EXPECT_EQ(goro::select(goro::recv(s, ok)), 0u);
  EXPECT_TRUE(ok);
  bool handler_arg = false;
  int handler_runs = 0;
  s.send();
  EXPECT_EQ(goro::select(goro::recv(s, [&](bool v) {
              handler_arg = v;
              ++handler_runs;
            })),
            0u);
  EXPECT_TRUE(handler_arg);
  s.close();
  EXPECT_EQ(goro::select(goro::recv(s, [&](bool v) {
              handler_arg = v;
              ++handler_runs;
            })),
            0u);
  EXPECT_FALSE(handler_arg) << "closed signal channel: handler gets false";
  EXPECT_EQ(handler_runs, 2);
  ok = true;
  EXPECT_EQ(goro::select(goro::recv(s, ok)), 0u);
  EXPECT_FALSE(ok);
  EXPECT_EQ(goro::select(goro::recv(s)), 0u);

  // A done channel stopping a worker, as in the seed's patterns.
  auto done = goro::make_chan<void>();
  auto work = goro::make_chan<int>();
  std::atomic<int> handled{0};
  goro::wait_group wg;
  wg.go([&] {
    for (bool stop = false; !stop;) {
      (void)goro::select(goro::recv(done, [&](bool) { stop = true; }),
                         goro::recv(work, [&](std::optional<int> v) {
                           if (v) handled.fetch_add(*v);
                         }));
    }
  });
  for (int i = 1; i <= 10; ++i) work.send(i);
  done.close();
  wg.wait();
  EXPECT_EQ(handled.load(), 55);
}

TEST(SelectTest, DirectionalHandleCases) {
  auto c = goro::make_chan<int>(1);
  goro::send_chan<int> s = c;
  goro::recv_chan<int> r = c;
  EXPECT_EQ(goro::select(goro::send(s, 3), goro::default_case()), 0u);
  std::optional<int> out;
  EXPECT_EQ(goro::select(goro::recv(r, out), goro::default_case()), 0u);
  EXPECT_EQ(out, 3);
  EXPECT_EQ(goro::select(goro::recv(r), goro::default_case()), 1u);
  std::vector<goro::select_case> cases;
  cases.push_back(goro::send(s, 4));
  EXPECT_EQ(goro::select(cases), 0u);
  cases.clear();
  cases.push_back(goro::recv(r, [&](std::optional<int> v) { out = v; }));
  EXPECT_EQ(goro::select(cases), 0u);
  EXPECT_EQ(out, 4);
}

TEST(SelectTest, MoveOnlyValues) {
  auto c = goro::make_chan<std::unique_ptr<int>>(1);
  EXPECT_EQ(goro::select(goro::send(c, std::make_unique<int>(7)), goro::default_case()), 0u);
  // Full: the case does not fire and its value is destroyed with it (LSan checks).
  EXPECT_EQ(goro::select(goro::send(c, std::make_unique<int>(8)), goro::default_case()), 1u);
  std::optional<std::unique_ptr<int>> out;
  EXPECT_EQ(goro::select(goro::recv(c, out)), 0u);
  ASSERT_TRUE(out && *out);
  EXPECT_EQ(**out, 7);
  c.send(std::make_unique<int>(9));
  std::unique_ptr<int> got;
  EXPECT_EQ(goro::select(goro::recv(c, [&](std::optional<std::unique_ptr<int>> v) {
              if (v) got = std::move(*v);
            })),
            0u);
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, 9);

  // Across goroutines, unbuffered.
  auto u = goro::make_chan<std::unique_ptr<int>>();
  goro::wait_group wg;
  wg.go([&] {
    for (int i = 0; i < 20; ++i) (void)goro::select(goro::send(u, std::make_unique<int>(i)));
  });
  for (int i = 0; i < 20; ++i) {
    std::optional<std::unique_ptr<int>> v;
    ASSERT_EQ(goro::select(goro::recv(u, v)), 0u);
    ASSERT_TRUE(v && *v);
    EXPECT_EQ(**v, i);
  }
  wg.wait();
}

struct NoDefault {
  NoDefault() = delete;
  explicit NoDefault(std::string s) : text(std::move(s)) {}
  std::string text;
};

TEST(SelectTest, NoDefaultConstructorAndStringValues) {
  auto c = goro::make_chan<NoDefault>();
  auto strings = goro::make_chan<std::string>(2);
  const std::string long_text(500, 'y');
  goro::wait_group wg;
  wg.go([&] { (void)goro::select(goro::send(c, NoDefault(long_text))); });
  std::optional<NoDefault> got;
  EXPECT_EQ(goro::select(goro::recv(c, got)), 0u);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->text, long_text);
  wg.wait();
  EXPECT_EQ(goro::select(goro::send(strings, long_text + "!")), 0u);
  std::string s;
  EXPECT_EQ(goro::select(goro::recv(strings, [&](std::optional<std::string> v) { s = v.value_or(""); })), 0u);
  EXPECT_EQ(s, long_text + "!");
}

// ---------------------------------------------------------------------------
// The dynamic form.

TEST(SelectTest, DynamicOnlyDefault) {
  bool ran = false;
  std::vector<goro::select_case> cases;
  cases.push_back(goro::default_case([&] { ran = true; }));
  EXPECT_EQ(goro::select(cases), 0u);
  EXPECT_TRUE(ran);
}

TEST(SelectTest, DynamicAllNilWithDefault) {
  goro::chan<int> nil;
  goro::chan<void> nil_signal;
  std::optional<int> out;
  bool ran = false;
  std::vector<goro::select_case> cases;
  cases.push_back(goro::recv(nil));
  cases.push_back(goro::recv(nil, out));
  cases.push_back(goro::send(nil, 1));
  cases.push_back(goro::default_case([&] { ran = true; }));
  cases.push_back(goro::recv(nil_signal));
  cases.push_back(goro::send(nil_signal));
  EXPECT_EQ(goro::select(cases), 3u);
  EXPECT_TRUE(ran);
  ran = false;
  EXPECT_EQ(goro::select(cases), 3u) << "the same vector selected on again";
  EXPECT_TRUE(ran);
}

TEST(SelectTest, DynamicReturnsIndexInVectorAndRunsHandler) {
  goro::chan<int> nil;
  auto full = goro::make_chan<int>(1);
  full.send(0);
  auto ready = goro::make_chan<int>(1);
  ready.send(10);
  int got = 0;
  bool default_ran = false;
  std::vector<goro::select_case> cases;
  cases.push_back(goro::recv(nil));
  cases.push_back(goro::send(full, 1));
  cases.push_back(goro::recv(ready, [&](std::optional<int> v) { got = v.value_or(-1); }));
  cases.push_back(goro::default_case([&] { default_ran = true; }));
  EXPECT_EQ(goro::select(cases), 2u);
  EXPECT_EQ(got, 10);
  EXPECT_FALSE(default_ran);
  // Selected again: nothing ready now, so default.
  EXPECT_EQ(goro::select(cases), 3u);
  EXPECT_TRUE(default_ran);
  // Ready again after a send: the reused vector sees it.
  ready.send(11);
  EXPECT_EQ(goro::select(cases), 2u);
  EXPECT_EQ(got, 11);
  EXPECT_EQ(full.len(), 1u);
}

TEST(SelectTest, DynamicVectorReusedForBlockingSelects) {
  auto a = goro::make_chan<int>();
  auto b = goro::make_chan<int>();
  std::optional<int> va, vb;
  std::vector<goro::select_case> cases;
  cases.push_back(goro::recv(a, va));
  cases.push_back(goro::recv(b, vb));
  goro::go([a, b]() mutable {
    for (int i = 0; i < 100; ++i) (i % 2 ? b : a).send(i);
  });
  for (int i = 0; i < 100; ++i) {
    va.reset();
    vb.reset();
    const std::size_t idx = goro::select(cases);
    ASSERT_EQ(idx, static_cast<std::size_t>(i % 2));
    ASSERT_EQ(idx == 0 ? va : vb, i);
  }
}

// Fan-in over 100 channels from one goroutine, with one reused vector; the
// select must not need a goroutine per channel.
TEST(SelectTest, DynamicFanInOver100Channels) {
  constexpr int nchan = 100;
  const int per = scaled(50);
  std::vector<goro::chan<int>> chans;
  for (int i = 0; i < nchan; ++i) chans.push_back(goro::make_chan<int>(i % 3 == 0 ? 0 : 2));

  const std::size_t base = goro::num_goroutine();
  std::atomic<bool> consumer_started{false};
  std::vector<std::vector<int>> got(nchan);
  int closes = 0;
  goro::wait_group consumer;
  consumer.go([&] {
    std::vector<goro::chan<int>> live = chans;  // closed ones become nil
    std::vector<std::optional<int>> outs(nchan);
    std::vector<goro::select_case> cases;
    cases.reserve(nchan);
    auto rebuild = [&] {
      cases.clear();
      for (int i = 0; i < nchan; ++i) cases.push_back(goro::recv(live[i], outs[i]));
    };
    rebuild();
    consumer_started = true;
    for (int open = nchan; open > 0;) {
      const std::size_t idx = goro::select(cases);
      if (idx >= static_cast<std::size_t>(nchan)) {
        ADD_FAILURE() << "bad index " << idx;
        return;
      }
      if (outs[idx]) {
        got[idx].push_back(*outs[idx]);
      } else {
        ++closes;
        --open;
        live[idx] = goro::chan<int>();
        rebuild();
      }
    }
  });
  ASSERT_TRUE(eventually([&] { return consumer_started.load(); }));
  settle();  // the consumer is now blocked in a select over 100 empty channels
  EXPECT_LE(goro::num_goroutine(), base + 5) << "select over N channels spawned helper goroutines";

  goro::wait_group producers;
  for (int i = 0; i < nchan; ++i) {
    producers.go([&chans, i, per] {
      goro::chan<int> c = chans[i];
      for (int j = 0; j < per; ++j) c.send(i * 100000 + j);
      c.close();
    });
  }
  producers.wait();
  consumer.wait();
  EXPECT_EQ(closes, nchan);
  for (int i = 0; i < nchan; ++i) {
    ASSERT_EQ(got[i].size(), static_cast<std::size_t>(per)) << "channel " << i;
    for (int j = 0; j < per; ++j) ASSERT_EQ(got[i][j], i * 100000 + j) << "channel " << i;
  }
}

TEST(SelectTest, DynamicMixedSendAndRecv) {
  // A relay: move values from in to out with one dynamic select, holding at most one.
  auto in = goro::make_chan<int>();
  auto out = goro::make_chan<int>();
  goro::wait_group wg;
  wg.go([&] {
    for (int i = 0; i < 200; ++i) in.send(i);
    in.close();
  });
  std::vector<int> received;
  wg.go([&] {
    for (int v : out) received.push_back(v);
  });
  wg.go([&] {
    goro::chan<int> nil;
    int held = 0;
    bool holding = false, in_open = true;
    while (in_open || holding) {
      std::optional<int> v;
      std::vector<goro::select_case> cases;
      cases.push_back(goro::recv(holding ? nil : in, v));
      cases.push_back(goro::send(holding ? out : nil, held));
      const std::size_t idx = goro::select(cases);
      if (idx == 0) {
        if (v) {
          held = *v;
          holding = true;
        } else {
          in_open = false;
        }
      } else {
        holding = false;
      }
    }
    out.close();
  });
  wg.wait();
  ASSERT_EQ(received.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(received[i], i);
}

// ---------------------------------------------------------------------------
// Plain threads.

TEST(SelectTest, PlainThreadBlockedInSelectIsWokenByGoroutine) {
  auto a = goro::make_chan<int>();
  auto b = goro::make_chan<int>();
  std::atomic<bool> woke{false};
  std::size_t idx = 99;
  std::optional<int> out;
  std::thread t([&] {
    idx = goro::select(goro::recv(a), goro::recv(b, out));
    woke = true;
  });
  settle();
  EXPECT_FALSE(woke.load());
  goro::go([b]() mutable { b.send(21); });
  t.join();
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(out, 21);
}

TEST(SelectTest, GoroutineBlockedInSelectIsWokenByPlainThread) {
  auto a = goro::make_chan<int>();
  auto b = goro::make_chan<int>();
  std::atomic<bool> woke{false};
  std::size_t idx = 99;
  goro::wait_group wg;
  wg.go([&] {
    idx = goro::select(goro::send(a, 1), goro::recv(b));
    woke = true;
  });
  settle();
  EXPECT_FALSE(woke.load());
  std::optional<int> got;
  std::thread t([&] { got = a.recv(); });
  t.join();
  wg.wait();
  EXPECT_EQ(idx, 0u);
  EXPECT_EQ(got, 1);
}

// select between plain threads only: no goroutine, no goro::run.
// The consumer pauses every 10 values, so the buffer fills and the producer
// blocks in select on both channels; the consumer's next select then finds
// both cases ready and must pick each about half the time. (Without pauses,
// both threads can stay in a steady state where the buffered case is the only
// ready one on every poll, which is a legal schedule: from_a == 0 is then not
// a bug, as a sanitizer run once showed.)
TEST(SelectTest, PlainThreadsOnly) {
  const int n = scaled(2000);
  auto a = goro::make_chan<int>();
  auto b = goro::make_chan<int>(3);
  long long sum = 0;
  int from_a = 0, from_b = 0;
  std::thread producer([&] {
    for (int i = 1; i <= n; ++i) (void)goro::select(goro::send(a, i), goro::send(b, i));
    a.close();
    b.close();
  });
  std::thread consumer([&] {
    goro::chan<int> ra = a, rb = b;
    while (ra || rb) {
      std::optional<int> v;
      const std::size_t idx = goro::select(goro::recv(ra, v), goro::recv(rb, v));
      if (!v) {
        (idx == 0 ? ra : rb) = goro::chan<int>();
        continue;
      }
      sum += *v;
      ++(idx == 0 ? from_a : from_b);
      if ((from_a + from_b) % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  producer.join();
  consumer.join();
  EXPECT_EQ(from_a + from_b, n);
  EXPECT_EQ(sum, static_cast<long long>(n) * (n + 1) / 2);
  EXPECT_GT(from_a, 0);
  EXPECT_GT(from_b, 0);
}

TEST(SelectTest, ManyGoroutinesAndThreadsSelectOnSharedChannels) {
  const int per = scaled(2000);
  auto work = goro::make_chan<int>(4);
  auto quit = goro::make_chan<void>();
  std::atomic<long long> sum{0};
  std::atomic<int> count{0};
  goro::wait_group wg;
  auto consume = [&] {
    for (bool stop = false; !stop;) {
      (void)goro::select(goro::recv(work,
                                    [&](std::optional<int> v) {
                                      if (v) {
                                        sum.fetch_add(*v);
                                        count.fetch_add(1);
                                      }
                                    }),
                         goro::recv(quit, [&](bool) { stop = true; }));
    }
  };
  for (int i = 0; i < 4; ++i) wg.go(consume);
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) threads.emplace_back(consume);
  goro::wait_group producers;
  for (int p = 0; p < 2; ++p) {
    producers.go([&] {
      for (int i = 1; i <= per; ++i) work.send(i);
    });
  }
  std::thread thread_producer([&] {
    for (int i = 1; i <= per; ++i) work.send(i);
  });
  producers.wait();
  thread_producer.join();
  // Every value sent has been handed over or buffered; wait until the buffer drains.
  ASSERT_TRUE(eventually([&] { return count.load() == 3 * per; }));
  quit.close();
  wg.wait();
  for (auto& t : threads) t.join();
  EXPECT_EQ(count.load(), 3 * per);
  EXPECT_EQ(sum.load(), 3LL * per * (per + 1) / 2);
}

}  // namespace
