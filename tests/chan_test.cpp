// Channel behaviour: a port of the checks in Go's src/runtime/chan_test.go
// (TestChan, TestMultiConsumer, TestChanSendInterface) plus the channel rules of
// API.md §2 and the seed's chapter 3 "channels". Select-specific tests live in
// select_test.cpp.
//
// Tests run either from the gtest thread (a plain thread: blocking operations
// block it) with goroutines started by goro::go, or inside goro::run. Sleeps
// (goro_test::settle) happen only on plain threads and only serve "has not
// happened yet" checks.

#include <goro/chan.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "test_util.hpp"

namespace {

using goro_test::eventually;
using goro_test::scaled;
using goro_test::settle;

static_assert(std::is_base_of_v<std::logic_error, goro::panic_error>);

// Capacities every TestChan-style check runs over (Go loops 0..N).
const std::vector<std::size_t>& capacities() {
  static const std::vector<std::size_t> caps = {0, 1, 2, 3, 4, 5, 8, 13, 32, 100};
  return caps;
}

// ---------------------------------------------------------------------------
// TestChan, split into one test per sub-check.

TEST(ChanTest, RecvFromEmptyChannelBlocks) {
  for (std::size_t cap : capacities()) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<int>(cap);
    std::atomic<int> received{0};
    goro::wait_group wg;
    for (int i = 0; i < 2; ++i) {
      wg.add(1);
      goro::go([&] {
        auto v = c.recv();
        EXPECT_TRUE(v.has_value());
        received.fetch_add(1);
        wg.done();
      });
    }
    settle();
    EXPECT_EQ(received.load(), 0) << "receive from an empty channel did not block";
    // A non-blocking receive does not block and takes nothing.
    EXPECT_EQ(goro::select(goro::recv(c), goro::default_case()), 1u);
    std::optional<int> out;
    EXPECT_EQ(goro::select(goro::recv(c, out), goro::default_case()), 1u);
    c.send(0);
    c.send(0);
    wg.wait();
    EXPECT_EQ(received.load(), 2);
    EXPECT_EQ(c.len(), 0u);
  }
}

TEST(ChanTest, SendToFullChannelBlocks) {
  for (std::size_t cap : capacities()) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<int>(cap);
    for (std::size_t i = 0; i < cap; ++i) c.send(static_cast<int>(i));
    std::atomic<bool> sent{false};
    goro::wait_group wg;
    wg.go([&] {
      c.send(1000);
      sent.store(true);
    });
    settle();
    EXPECT_FALSE(sent.load()) << "send to a full channel did not block";
    // A non-blocking send does not block and does not enqueue.
    EXPECT_EQ(goro::select(goro::send(c, -1), goro::default_case()), 1u);
    EXPECT_EQ(c.len(), cap);
    // One receive frees a slot (or, unbuffered, takes the sender's value).
    auto first = c.recv();
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(*first, cap == 0 ? 1000 : 0);
    wg.wait();
    EXPECT_TRUE(sent.load());
    EXPECT_EQ(c.len(), cap);
    // The blocked sender's value queues behind the buffered ones.
    for (std::size_t i = 1; i < cap; ++i) EXPECT_EQ(c.recv(), static_cast<int>(i));
    if (cap > 0) {
      EXPECT_EQ(c.recv(), 1000);
    }
    EXPECT_EQ(c.len(), 0u);
  }
}

TEST(ChanTest, ClosedChannelDrainsThenReturnsNullopt) {
  for (std::size_t cap : capacities()) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<int>(cap);
    for (std::size_t i = 0; i < cap; ++i) c.send(static_cast<int>(i));
    c.close();
    EXPECT_EQ(c.len(), cap);
    EXPECT_EQ(c.cap(), cap);
    for (std::size_t i = 0; i < cap; ++i) EXPECT_EQ(c.recv(), static_cast<int>(i));
    EXPECT_EQ(c.recv(), std::nullopt);
    EXPECT_EQ(c.recv(), std::nullopt);  // stays closed: every later receive too
    EXPECT_EQ(c.len(), 0u);
  }
}

TEST(ChanTest, CloseUnblocksReceiver) {
  for (std::size_t cap : capacities()) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<int>(cap);
    auto done = goro::make_chan<bool>();
    goro::go([c, done]() mutable {
      auto v = c.recv();
      done.send(!v.has_value());
    });
    settle();
    c.close();
    EXPECT_EQ(done.recv(), true) << "receive woken by close did not get nullopt";
  }
}

TEST(ChanTest, FifoOrderWithOneSender) {
  for (std::size_t cap : capacities()) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<int>(cap);
    for (int round = 0; round < 2; ++round) {
      goro::go([c]() mutable {
        for (int i = 0; i < 100; ++i) c.send(i);
      });
      for (int i = 0; i < 100; ++i) {
        auto v = c.recv();
        ASSERT_TRUE(v.has_value());
        ASSERT_EQ(*v, i);
      }
    }
  }
}

TEST(ChanTest, ManySendersAndReceiversLoseNothing) {
  constexpr int P = 4;
  const int L = scaled(1000);
  for (std::size_t cap : capacities()) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<int>(cap);
    for (int p = 0; p < P; ++p) {
      goro::go([c, L]() mutable {
        for (int i = 0; i < L; ++i) c.send(i);
      });
    }
    auto done = goro::make_chan<std::map<int, int>>();
    for (int p = 0; p < P; ++p) {
      goro::go([c, done, L]() mutable {
        std::map<int, int> got;
        for (int i = 0; i < L; ++i) {
          auto v = c.recv();
          if (v) ++got[*v];
        }
        done.send(std::move(got));
      });
    }
    std::map<int, int> all;
    for (int p = 0; p < P; ++p) {
      auto part = done.recv();
      ASSERT_TRUE(part.has_value());
      for (auto [k, n] : *part) all[k] += n;
    }
    ASSERT_EQ(all.size(), static_cast<std::size_t>(L));
    for (auto [k, n] : all) ASSERT_EQ(n, P) << "value " << k;
  }
}

TEST(ChanTest, LenAndCap) {
  for (std::size_t cap : capacities()) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<int>(cap);
    EXPECT_EQ(c.len(), 0u);
    EXPECT_EQ(c.cap(), cap);
    for (std::size_t i = 0; i < cap; ++i) {
      c.send(static_cast<int>(i));
      EXPECT_EQ(c.len(), i + 1);
    }
    EXPECT_EQ(c.len(), cap);
    EXPECT_EQ(c.cap(), cap);
    goro::send_chan<int> s = c;
    goro::recv_chan<int> r = c;
    EXPECT_EQ(s.len(), cap);
    EXPECT_EQ(r.len(), cap);
    EXPECT_EQ(s.cap(), cap);
    EXPECT_EQ(r.cap(), cap);
  }
  EXPECT_EQ(goro::make_chan<int>().cap(), 0u);  // the default capacity is unbuffered
}

// ---------------------------------------------------------------------------
// TestMultiConsumer: 23 workers range over a queue, fan their results back in.

TEST(ChanTest, MultiConsumer) {
  constexpr int nwork = 23;
  const int niter = scaled(50000);
  const std::vector<int> pn = {2, 3, 7, 11, 13, 17, 19, 23, 27, 31};
  long long expect = 0;
  for (int i = 0; i < niter; ++i) expect += pn[i % pn.size()];

  long long sum = 0;
  int n = 0;
  goro::run([&] {
    auto q = goro::make_chan<int>(nwork * 3);
    auto r = goro::make_chan<int>(nwork * 3);
    auto wg = std::make_shared<goro::wait_group>();
    for (int w = 0; w < nwork; ++w) {
      wg->add(1);
      goro::go([q, r, wg, &pn](int id) mutable {
        for (int v : q) {
          if (pn[id % pn.size()] == v) goro::yield();  // mess with the FIFO-ish order
          r.send(v);
        }
        wg->done();
      }, w);
    }
    goro::go([q, r, wg, &pn, niter]() mutable {
      for (int i = 0; i < niter; ++i) q.send(pn[i % pn.size()]);
      q.close();  // no more work
      wg->wait();  // workers done
      r.close();  // ... so there can be no more results
    });
    for (int v : r) {
      ++n;
      sum += v;
    }
  });
  EXPECT_EQ(n, niter);
  EXPECT_EQ(sum, expect);
}

// ---------------------------------------------------------------------------
// Element types (TestChanSendInterface and friends).

TEST(ChanTest, MoveOnlyUniquePtr) {
  auto c = goro::make_chan<std::unique_ptr<int>>(2);
  auto p = std::make_unique<int>(1);
  int* raw = p.get();
  c.send(std::move(p));
  c.send(std::make_unique<int>(2));
  EXPECT_EQ(c.len(), 2u);
  auto a = c.recv();
  ASSERT_TRUE(a.has_value());
  ASSERT_NE(*a, nullptr);
  EXPECT_EQ(a->get(), raw) << "the object itself must travel, not a copy";
  EXPECT_EQ(**a, 1);
  auto b = c.recv();
  ASSERT_TRUE(b && *b);
  EXPECT_EQ(**b, 2);

  // Unbuffered, between goroutines, and range-for over move-only values.
  auto u = goro::make_chan<std::unique_ptr<int>>();
  goro::go([u]() mutable {
    for (int i = 0; i < 50; ++i) u.send(std::make_unique<int>(i));
    u.close();
  });
  int expect = 0;
  for (auto&& q : u) {
    ASSERT_NE(q, nullptr);
    EXPECT_EQ(*q, expect++);
  }
  EXPECT_EQ(expect, 50);
}

struct NoDefault {
  NoDefault() = delete;
  explicit NoDefault(int x) : v(x) {}
  int v;
};

TEST(ChanTest, TypeWithoutDefaultConstructor) {
  static_assert(!std::is_default_constructible_v<NoDefault>);
  for (std::size_t cap : {std::size_t{0}, std::size_t{3}}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<NoDefault>(cap);
    goro::go([c]() mutable {
      for (int i = 0; i < 20; ++i) c.send(NoDefault(i));
      c.close();
    });
    for (int i = 0; i < 20; ++i) {
      auto v = c.recv();
      ASSERT_TRUE(v.has_value());
      EXPECT_EQ(v->v, i);
    }
    EXPECT_FALSE(c.recv().has_value());
  }
}

TEST(ChanTest, StdString) {
  auto c = goro::make_chan<std::string>(4);
  const std::string long_text(1000, 'x');  // beyond any small-string buffer
  goro::go([c, long_text]() mutable {
    for (int i = 0; i < 100; ++i) c.send(long_text + std::to_string(i));
    c.send(std::string());
    c.close();
  });
  int i = 0;
  goro::recv_chan<std::string> r = c;
  for (std::string s : r) {
    if (i < 100) {
      EXPECT_EQ(s, long_text + std::to_string(i));
    } else {
      EXPECT_TRUE(s.empty());
    }
    ++i;
  }
  EXPECT_EQ(i, 101);
}

struct Large {
  std::array<std::uint64_t, 256> words;  // 2 KiB
  static Large make(std::uint64_t seed) {
    Large l;
    for (std::size_t i = 0; i < l.words.size(); ++i) l.words[i] = seed * 1000003u + i;
    return l;
  }
  bool valid_for(std::uint64_t seed) const {
    for (std::size_t i = 0; i < words.size(); ++i)
      if (words[i] != seed * 1000003u + i) return false;
    return true;
  }
};

TEST(ChanTest, LargeStruct) {
  for (std::size_t cap : {std::size_t{0}, std::size_t{4}}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<Large>(cap);
    goro::wait_group wg;
    wg.go([c]() mutable {
      for (std::uint64_t i = 0; i < 100; ++i) c.send(Large::make(i));
    });
    for (std::uint64_t i = 0; i < 100; ++i) {
      auto v = c.recv();
      ASSERT_TRUE(v.has_value());
      ASSERT_TRUE(v->valid_for(i)) << "item " << i << " corrupted";
    }
    wg.wait();
  }
}

struct Base {
  virtual ~Base() = default;
  virtual int id() const = 0;
};
struct Derived : Base {
  int id() const override { return 7; }
};

// TestChanSendInterface: polymorphic values through buffered channels and select;
// the copies held by cases that did not fire are released.
TEST(ChanTest, PolymorphicSharedPtr) {
  auto m = std::make_shared<const Derived>();
  auto c = goro::make_chan<std::shared_ptr<const Base>>(1);
  c.send(m);
  EXPECT_EQ(goro::select(goro::send(c, std::shared_ptr<const Base>(m)), goro::default_case()), 1u);
  EXPECT_EQ(goro::select(goro::send(c, std::shared_ptr<const Base>(m)),
                         goro::send(c, std::shared_ptr<const Base>(std::make_shared<Derived>())),
                         goro::default_case()),
            2u);
  EXPECT_EQ(m.use_count(), 2) << "one reference in the test, one in the channel";
  auto v = c.recv();
  ASSERT_TRUE(v && *v);
  EXPECT_EQ((*v)->id(), 7);
  EXPECT_EQ(v->get(), m.get());
}

// A type whose move operations throw on demand: moves_until_throw == k makes the
// k-th following move (0: the next one) throw; -1 never throws.
struct ThrowingMove {
  static inline std::atomic<int> moves_until_throw{-1};
  int v;
  explicit ThrowingMove(int x) : v(x) {}
  ThrowingMove(ThrowingMove&& o) : v(o.v) {
    maybe_throw();
    o.v = -1;  // a moved-from value must never be delivered
  }
  ThrowingMove& operator=(ThrowingMove&& o) {
    maybe_throw();
    v = o.v;
    o.v = -1;
    return *this;
  }
  ThrowingMove(const ThrowingMove&) = delete;
  ThrowingMove& operator=(const ThrowingMove&) = delete;
  static void maybe_throw() {
    int n = moves_until_throw.load();
    if (n < 0) return;
    if (n == 0) {
      moves_until_throw.store(-1);
      throw std::runtime_error("move failed");
    }
    moves_until_throw.store(n - 1);
  }
};

// A move that throws inside send/recv reaches the caller, and the channel stays
// consistent: len() is right and later operations see the right values in order.
TEST(ChanTest, ThrowingMoveLeavesChannelConsistent) {
  auto c = goro::make_chan<ThrowingMove>(8);
  std::deque<int> expected;  // what the channel should hold, in order
  c.send(ThrowingMove(100));
  expected.push_back(100);

  // send: make the 0th, 1st, ... move inside send throw, until send needs fewer moves.
  int send_throws = 0;
  for (int k = 0; k < 50; ++k) {
    const std::size_t before = c.len();
    ThrowingMove::moves_until_throw.store(k);
    bool threw = false;
    try {
      c.send(ThrowingMove(200 + k));
    } catch (const std::runtime_error&) {
      threw = true;
    }
    ThrowingMove::moves_until_throw.store(-1);
    if (threw) {
      ++send_throws;
      EXPECT_EQ(c.len(), before) << "failed send changed the channel (k=" << k << ")";
    } else {
      EXPECT_EQ(c.len(), before + 1);
      expected.push_back(200 + k);
      break;
    }
  }
  EXPECT_GE(send_throws, 1) << "send moved its value without the exception reaching the caller";
  c.send(ThrowingMove(300));
  expected.push_back(300);
  ASSERT_EQ(c.len(), expected.size());

  // recv: a failed receive either leaves the head in place or consumes it; either
  // way len() tells which, and later receives continue in FIFO order.
  int recv_throws = 0;
  for (int k = 0; k < 50 && !expected.empty(); ++k) {
    const std::size_t before = c.len();
    ThrowingMove::moves_until_throw.store(k);
    bool threw = false;
    std::optional<int> got;  // the received value, or nullopt for a closed channel
    try {
      auto v = c.recv();  // no move of our own: only recv's moves can throw
      ThrowingMove::moves_until_throw.store(-1);
      if (v) got = v->v;
    } catch (const std::runtime_error&) {
      threw = true;
    }
    ThrowingMove::moves_until_throw.store(-1);
    if (threw) {
      ++recv_throws;
      const std::size_t after = c.len();
      EXPECT_TRUE(after == before || after + 1 == before) << "len " << before << " -> " << after;
      if (after + 1 == before) expected.pop_front();
    } else {
      ASSERT_TRUE(got.has_value());
      EXPECT_EQ(*got, expected.front());
      expected.pop_front();
      EXPECT_EQ(c.len(), before - 1);
      break;
    }
  }
  EXPECT_GE(recv_throws, 1) << "recv moved its value without the exception reaching the caller";

  // The channel still works.
  c.send(ThrowingMove(400));
  expected.push_back(400);
  EXPECT_EQ(c.len(), expected.size());
  c.close();
  for (int want : expected) {
    auto v = c.recv();
    ASSERT_TRUE(v.has_value());
    EXPECT_EQ(v->v, want);
  }
  EXPECT_FALSE(c.recv().has_value());
  EXPECT_EQ(c.len(), 0u);
}

// ---------------------------------------------------------------------------
// nil channels, close and panics.

TEST(ChanTest, NilChannelBasics) {
  goro::chan<int> a;
  goro::chan<int> b(nullptr);
  EXPECT_FALSE(static_cast<bool>(a));
  EXPECT_FALSE(static_cast<bool>(b));
  EXPECT_TRUE(a == b);
  EXPECT_EQ(a.len(), 0u);
  EXPECT_EQ(a.cap(), 0u);
  EXPECT_TRUE(static_cast<bool>(goro::make_chan<int>()));
  EXPECT_FALSE(a == goro::make_chan<int>());
  goro::send_chan<int> s;
  goro::recv_chan<int> r;
  EXPECT_FALSE(static_cast<bool>(s));
  EXPECT_FALSE(static_cast<bool>(r));
  goro::chan<void> v;
  EXPECT_FALSE(static_cast<bool>(v));
}

TEST(ChanTest, NilChannelSendAndRecvBlockForever) {
  // Goroutines that block on a nil channel are left blocked; everything they use
  // is owned by them.
  auto started = std::make_shared<std::atomic<int>>(0);
  auto returned = std::make_shared<std::atomic<int>>(0);
  goro::go([started, returned] {
    goro::chan<int> nil;
    started->fetch_add(1);
    auto v = nil.recv();
    (void)v;
    returned->fetch_add(1);
  });
  goro::go([started, returned] {
    goro::chan<int> nil;
    started->fetch_add(1);
    nil.send(1);
    returned->fetch_add(1);
  });
  goro::go([started, returned] {
    goro::chan<void> nil;
    started->fetch_add(1);
    bool ok = nil.recv();
    (void)ok;
    returned->fetch_add(1);
  });
  ASSERT_TRUE(eventually([&] { return started->load() == 3; }));
  settle();
  // Meanwhile the rest of the program proceeds.
  auto c = goro::make_chan<int>();
  goro::go([c]() mutable { c.send(5); });
  EXPECT_EQ(c.recv(), 5);
  settle();
  EXPECT_EQ(returned->load(), 0) << "an operation on a nil channel returned";
}

TEST(ChanTest, CloseNilChannelPanics) {
  goro::chan<int> c;
  EXPECT_THROW(c.close(), goro::panic_error);
  goro::chan<void> v;
  EXPECT_THROW(v.close(), goro::panic_error);
  goro::send_chan<int> s;
  EXPECT_THROW(s.close(), goro::panic_error);
}

TEST(ChanTest, CloseClosedChannelPanics) {
  auto c = goro::make_chan<int>(1);
  c.close();
  EXPECT_THROW(c.close(), goro::panic_error);
  goro::send_chan<int> s = c;
  EXPECT_THROW(s.close(), goro::panic_error);
  auto v = goro::make_chan<void>();
  v.close();
  EXPECT_THROW(v.close(), goro::panic_error);
}

TEST(ChanTest, SendOnClosedChannelPanicsAndKeepsBufferedValues) {
  auto c = goro::make_chan<int>(3);
  c.send(1);
  c.send(2);
  c.close();
  EXPECT_THROW(c.send(3), goro::panic_error);
  goro::send_chan<int> s = c;
  EXPECT_THROW(s.send(4), goro::panic_error);
  EXPECT_EQ(c.len(), 2u);
  EXPECT_EQ(c.recv(), 1);
  EXPECT_EQ(c.recv(), 2);
  EXPECT_EQ(c.recv(), std::nullopt);

  auto u = goro::make_chan<int>();
  u.close();
  EXPECT_THROW(u.send(1), goro::panic_error);
  auto v = goro::make_chan<void>(1);
  v.close();
  EXPECT_THROW(v.send(), goro::panic_error);
}

TEST(ChanTest, PanicErrorInsideGoroutineCanBeCaught) {
  auto c = goro::make_chan<int>();
  c.close();
  std::atomic<bool> caught{false};
  goro::wait_group wg;
  wg.go([&] {
    try {
      c.send(1);
    } catch (const goro::panic_error&) {
      caught = true;
    }
  });
  wg.wait();
  EXPECT_TRUE(caught.load());
}

TEST(ChanTest, CloseWakesEveryWaitingReceiver) {
  for (std::size_t cap : {std::size_t{0}, std::size_t{3}}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    constexpr int n = 8;
    auto c = goro::make_chan<int>(cap);
    auto s = goro::make_chan<void>(cap);
    std::atomic<int> arrived{0}, got_nullopt{0}, got_false{0};
    goro::wait_group wg;
    for (int i = 0; i < n; ++i) {
      wg.go([&] {
        arrived.fetch_add(1);
        if (!c.recv().has_value()) got_nullopt.fetch_add(1);
      });
      wg.go([&] {
        arrived.fetch_add(1);
        if (!s.recv()) got_false.fetch_add(1);
      });
    }
    ASSERT_TRUE(eventually([&] { return arrived.load() == 2 * n; }));
    settle();
    EXPECT_EQ(got_nullopt.load() + got_false.load(), 0);
    c.close();
    s.close();
    wg.wait();
    EXPECT_EQ(got_nullopt.load(), n);
    EXPECT_EQ(got_false.load(), n);
  }
}

TEST(ChanTest, CloseWakesEveryWaitingSenderWithPanic) {
  for (std::size_t cap : {std::size_t{0}, std::size_t{2}}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    constexpr int n = 6;
    auto c = goro::make_chan<int>(cap);
    for (std::size_t i = 0; i < cap; ++i) c.send(-1);
    std::atomic<int> arrived{0}, panicked{0}, returned{0};
    goro::wait_group wg;
    for (int i = 0; i < n; ++i) {
      wg.go([&, i] {
        arrived.fetch_add(1);
        try {
          c.send(i);
          returned.fetch_add(1);
        } catch (const goro::panic_error&) {
          panicked.fetch_add(1);
        }
      });
    }
    ASSERT_TRUE(eventually([&] { return arrived.load() == n; }));
    settle();
    EXPECT_EQ(panicked.load() + returned.load(), 0);
    c.close();
    wg.wait();
    EXPECT_EQ(panicked.load(), n);
    EXPECT_EQ(returned.load(), 0);
    // The values buffered before the close are still delivered, then nullopt.
    EXPECT_EQ(c.len(), cap);
    for (std::size_t i = 0; i < cap; ++i) EXPECT_EQ(c.recv(), -1);
    EXPECT_EQ(c.recv(), std::nullopt);
  }
}

// The close happens before a receive that returns because of it (Go memory model).
TEST(ChanTest, CloseHappensBeforeReceiveOfClosed) {
  for (int round = 0; round < scaled(200); ++round) {
    auto c = goro::make_chan<int>();
    int data = 0;  // deliberately not atomic: ordering comes from the channel
    goro::go([c, &data]() mutable {
      data = 42;
      c.close();
    });
    ASSERT_EQ(c.recv(), std::nullopt);
    ASSERT_EQ(data, 42);
  }
}

// ---------------------------------------------------------------------------
// range-for

TEST(ChanTest, RangeForReceivesUntilClosedAndDrained) {
  auto c = goro::make_chan<int>(10);
  for (int i = 0; i < 10; ++i) c.send(i);
  c.close();
  std::vector<int> got;
  for (int v : c) got.push_back(v);
  std::vector<int> want(10);
  std::iota(want.begin(), want.end(), 0);
  EXPECT_EQ(got, want);

  // Closed and empty: the loop body never runs.
  int n = 0;
  for (int v : c) {
    (void)v;
    ++n;
  }
  EXPECT_EQ(n, 0);

  // Concurrent producer, ranged over through a recv_chan.
  auto d = goro::make_chan<int>();
  goro::go([d]() mutable {
    for (int i = 0; i < 1000; ++i) d.send(i);
    d.close();
  });
  goro::recv_chan<int> r = d;
  int next = 0;
  for (int v : r) ASSERT_EQ(v, next++);
  EXPECT_EQ(next, 1000);
}

// ---------------------------------------------------------------------------
// Identity: ==, std::hash, directional handles.

TEST(ChanTest, EqualityAndHashAreIdentity) {
  auto a = goro::make_chan<int>(1);
  auto b = goro::make_chan<int>(1);
  goro::chan<int> a2 = a;
  EXPECT_TRUE(a == a2);
  EXPECT_FALSE(a == b);
  EXPECT_TRUE(a != b);
  EXPECT_FALSE(a != a2);

  std::hash<goro::chan<int>> h;
  EXPECT_EQ(h(a), h(a2));

  // Copies share the channel.
  a2.send(3);
  EXPECT_EQ(a.len(), 1u);
  EXPECT_EQ(b.len(), 0u);
  EXPECT_EQ(a.recv(), 3);

  // Directional handles to the same channel compare equal and hash alike.
  goro::send_chan<int> sa = a;
  goro::recv_chan<int> ra = a;
  goro::send_chan<int> sb = b;
  EXPECT_TRUE(sa == a);
  EXPECT_TRUE(a == sa);
  EXPECT_TRUE(ra == a);
  EXPECT_TRUE(a == ra);
  EXPECT_FALSE(sb == a);
  EXPECT_FALSE(sa == sb);
  EXPECT_TRUE(sa == goro::send_chan<int>(a2));
  EXPECT_EQ(std::hash<goro::send_chan<int>>{}(sa), h(a));
  EXPECT_EQ(std::hash<goro::recv_chan<int>>{}(ra), h(a));
  EXPECT_TRUE(goro::send_chan<int>() == goro::send_chan<int>(nullptr));
  EXPECT_TRUE(goro::recv_chan<int>() == goro::recv_chan<int>(nullptr));

  // Usable as unordered container keys.
  std::unordered_map<goro::chan<int>, int> m;
  m[a] = 1;
  m[b] = 2;
  m[a2] += 10;
  EXPECT_EQ(m.size(), 2u);
  EXPECT_EQ(m[a], 11);
  EXPECT_EQ(m.at(b), 2);
  std::unordered_set<goro::recv_chan<int>> rs;
  rs.insert(ra);
  rs.insert(goro::recv_chan<int>(a2));
  rs.insert(goro::recv_chan<int>(b));
  EXPECT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs.count(goro::recv_chan<int>(a)), 1u);

  // Many distinct channels: all distinct keys.
  std::unordered_set<goro::chan<int>> many;
  std::vector<goro::chan<int>> keep;
  for (int i = 0; i < 1000; ++i) {
    keep.push_back(goro::make_chan<int>());
    many.insert(keep.back());
  }
  EXPECT_EQ(many.size(), 1000u);

  auto s1 = goro::make_chan<void>();
  goro::chan<void> s2 = s1;
  EXPECT_TRUE(s1 == s2);
  EXPECT_FALSE(s1 == goro::make_chan<void>());
  EXPECT_EQ(std::hash<goro::chan<void>>{}(s1), std::hash<goro::chan<void>>{}(s2));
}

// Channel directions as function parameters, as in the seed's ownership rule: the
// owner creates, writes and closes; consumers get a receive-only view.
goro::recv_chan<int> owner(int n) {
  auto c = goro::make_chan<int>(2);
  goro::go([](goro::send_chan<int> out, int count) mutable {
    for (int i = 1; i <= count; ++i) out.send(i);
    out.close();
  }, goro::send_chan<int>(c), n);
  return c;
}

TEST(ChanTest, DirectionalHandles) {
  auto results = owner(100);
  int sum = 0;
  for (int v : results) sum += v;
  EXPECT_EQ(sum, 5050);
  EXPECT_EQ(results.recv(), std::nullopt);
}

TEST(ChanTest, ChannelOfChannels) {
  // Request/response: each request carries its own reply channel.
  struct request {
    int x;
    goro::send_chan<int> reply;
  };
  auto requests = goro::make_chan<request>();
  goro::go([requests]() mutable {
    for (request r : requests) r.reply.send(r.x * r.x);
  });
  for (int i = 0; i < 50; ++i) {
    auto reply = goro::make_chan<int>(1);
    requests.send(request{i, reply});
    EXPECT_EQ(reply.recv(), i * i);
  }
  requests.close();
}

// ---------------------------------------------------------------------------
// chan<void>

TEST(ChanTest, SignalChannel) {
  auto c = goro::make_chan<void>(2);
  EXPECT_EQ(c.cap(), 2u);
  c.send();
  c.send();
  EXPECT_EQ(c.len(), 2u);
  EXPECT_TRUE(c.recv());
  EXPECT_EQ(c.len(), 1u);
  c.close();
  EXPECT_TRUE(c.recv());  // buffered signal still delivered after close
  EXPECT_FALSE(c.recv());
  EXPECT_FALSE(c.recv());

  // Unbuffered signals between goroutines.
  auto ping = goro::make_chan<void>();
  auto pong = goro::make_chan<void>();
  goro::go([ping, pong]() mutable {
    while (ping.recv()) pong.send();
    pong.close();
  });
  for (int i = 0; i < 100; ++i) {
    ping.send();
    ASSERT_TRUE(pong.recv());
  }
  ping.close();
  EXPECT_FALSE(pong.recv());
}

// ---------------------------------------------------------------------------
// Synchronisation semantics.

// An unbuffered send completes only once a receiver has taken the value: the
// receive is synchronized before the completion of the send.
TEST(ChanTest, UnbufferedSendCompletesOnlyWhenReceived) {
  for (int round = 0; round < 3; ++round) {
    auto c = goro::make_chan<int>();
    std::atomic<bool> send_returned{false};
    std::atomic<bool> receiver_arrived{false};
    bool sender_saw_receiver = false;
    goro::wait_group wg;
    wg.go([&] {
      c.send(7);
      sender_saw_receiver = receiver_arrived.load(std::memory_order_relaxed);
      send_returned = true;
    });
    settle();
    EXPECT_FALSE(send_returned.load()) << "unbuffered send completed with no receiver";
    EXPECT_EQ(c.len(), 0u);
    receiver_arrived.store(true, std::memory_order_relaxed);  // before the receive
    EXPECT_EQ(c.recv(), 7);
    wg.wait();
    EXPECT_TRUE(send_returned.load());
    EXPECT_TRUE(sender_saw_receiver) << "send returned before the receive began";
  }
}

// Both directions of the unbuffered hand-off order plain memory: the sender's
// writes before send are visible after recv, and the receiver's writes before
// recv are visible after send returns. (TSan reports a race if not.)
TEST(ChanTest, UnbufferedHandoffOrdersMemoryBothWays) {
  const int rounds = scaled(300);
  auto c = goro::make_chan<int>();
  std::vector<int> before_send(rounds, 0), before_recv(rounds, 0);
  std::atomic<int> sender_mismatch{0};
  goro::wait_group wg;
  wg.go([&] {
    for (int i = 0; i < rounds; ++i) {
      before_send[i] = i + 1;
      c.send(i);
      if (before_recv[i] != i + 1) sender_mismatch.fetch_add(1);
    }
  });
  int receiver_mismatch = 0;
  for (int i = 0; i < rounds; ++i) {
    before_recv[i] = i + 1;
    auto v = c.recv();
    if (v != i || before_send[i] != i + 1) ++receiver_mismatch;
  }
  wg.wait();
  EXPECT_EQ(receiver_mismatch, 0);
  EXPECT_EQ(sender_mismatch.load(), 0);
}

// The k-th receive on a channel of capacity C happens before the (k+C)-th send
// completes, so a buffered channel is a counting semaphore.
TEST(ChanTest, BufferedChannelLimitsConcurrencyLikeASemaphore) {
  constexpr int C = 3;
  const int n = scaled(300);
  auto sem = goro::make_chan<void>(C);
  std::atomic<int> active{0}, max_active{0};
  goro::wait_group wg;
  for (int i = 0; i < n; ++i) {
    wg.go([&] {
      sem.send();
      int a = active.fetch_add(1) + 1;
      int m = max_active.load();
      while (a > m && !max_active.compare_exchange_weak(m, a)) {
      }
      for (int k = 0; k < 3; ++k) goro::yield();
      active.fetch_sub(1);
      EXPECT_TRUE(sem.recv());
    });
  }
  wg.wait();
  EXPECT_LE(max_active.load(), C);
  EXPECT_GE(max_active.load(), 1);
  EXPECT_EQ(sem.len(), 0u);
}

// A receiver already waiting on an empty buffered channel gets the value handed
// over directly: the buffer is bypassed.
TEST(ChanTest, WaitingReceiverOnBufferedChannelGetsValueDirectly) {
  // Several rounds: an implementation that buffers the value and wakes the
  // receiver to fetch it shows len() == 1 in at least one of them.
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto c = goro::make_chan<int>(4);
    std::atomic<bool> about_to_recv{false};
    std::optional<int> got;
    goro::wait_group wg;
    wg.go([&] {
      about_to_recv = true;
      got = c.recv();
    });
    ASSERT_TRUE(eventually([&] { return about_to_recv.load(); }));
    settle();  // let it park
    c.send(5);
    EXPECT_EQ(c.len(), 0u) << "the value went through the buffer, not to the waiting receiver";
    wg.wait();
    EXPECT_EQ(got, 5);
    // With no receiver waiting, the buffer is used.
    c.send(6);
    EXPECT_EQ(c.len(), 1u);
    EXPECT_EQ(c.recv(), 6);
  }
}

// Receiving from a full buffered channel with a sender waiting takes the head and
// moves the sender's value into the freed slot at the tail: FIFO is preserved.
TEST(ChanTest, RecvFromFullChannelMovesWaitingSenderIntoBuffer) {
  for (int round = 0; round < 5; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    auto c = goro::make_chan<int>(2);
    c.send(1);
    c.send(2);
    std::atomic<bool> about_to_send{false}, sent{false};
    goro::wait_group wg;
    wg.go([&] {
      about_to_send = true;
      c.send(3);
      sent = true;
    });
    ASSERT_TRUE(eventually([&] { return about_to_send.load(); }));
    settle();
    EXPECT_FALSE(sent.load());
    EXPECT_EQ(c.len(), 2u);
    EXPECT_EQ(c.recv(), 1);
    EXPECT_EQ(c.len(), 2u) << "the waiting sender's value should fill the freed slot";
    wg.wait();
    EXPECT_TRUE(sent.load());
    EXPECT_EQ(c.recv(), 2);
    EXPECT_EQ(c.recv(), 3);
    EXPECT_EQ(c.len(), 0u);
  }
}

// Waiters are served FIFO: blocked senders deliver in the order they blocked,
// blocked receivers are served in the order they blocked.
TEST(ChanTest, WaitersAreServedFifo) {
  constexpr int n = 4;
  for (std::size_t cap : {std::size_t{0}, std::size_t{1}}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    {  // senders
      auto c = goro::make_chan<int>(cap);
      if (cap == 1) c.send(-1);
      goro::wait_group wg;
      for (int i = 0; i < n; ++i) {
        std::atomic<bool> arrived{false};
        wg.go([&c, &arrived, i] {
          arrived = true;
          c.send(i);
        });
        ASSERT_TRUE(eventually([&] { return arrived.load(); }));
        settle();  // let sender i park before sender i+1 arrives
      }
      if (cap == 1) {
        EXPECT_EQ(c.recv(), -1);
      }
      for (int i = 0; i < n; ++i) EXPECT_EQ(c.recv(), i);
      wg.wait();
    }
    {  // receivers
      auto c = goro::make_chan<int>(cap);
      std::array<std::optional<int>, n> got;
      goro::wait_group wg;
      for (int i = 0; i < n; ++i) {
        std::atomic<bool> arrived{false};
        wg.go([&c, &arrived, &got, i] {
          arrived = true;
          got[i] = c.recv();
        });
        ASSERT_TRUE(eventually([&] { return arrived.load(); }));
        settle();
      }
      for (int i = 0; i < n; ++i) c.send(i);
      wg.wait();
      for (int i = 0; i < n; ++i) EXPECT_EQ(got[i], i) << "receiver " << i;
    }
  }
}

TEST(ChanTest, ManyBlockedReceivers) {
  const int n = scaled(2000);
  auto c = goro::make_chan<int>();
  auto results = goro::make_chan<int>(n);
  for (int i = 0; i < n; ++i) {
    goro::go([c, results]() mutable {
      auto v = c.recv();
      results.send(v ? *v : -1);
    });
  }
  long long sum = 0;
  for (int i = 0; i < n; ++i) c.send(i);
  for (int i = 0; i < n; ++i) {
    auto v = results.recv();
    ASSERT_TRUE(v.has_value());
    ASSERT_GE(*v, 0);
    sum += *v;
  }
  EXPECT_EQ(sum, static_cast<long long>(n) * (n - 1) / 2);
  EXPECT_EQ(results.len(), 0u);
}

// ---------------------------------------------------------------------------
// goro::run and plain threads.

TEST(ChanTest, InsideRun) {
  int result = goro::run([] {
    EXPECT_TRUE(goro::in_goroutine());
    auto c = goro::make_chan<int>();
    auto done = goro::make_chan<long long>();
    goro::go([c, done]() mutable {
      long long s = 0;
      for (int v : c) s += v;
      done.send(s);
    });
    for (int i = 1; i <= 1000; ++i) c.send(i);
    c.close();
    return static_cast<int>(*done.recv());
  });
  EXPECT_EQ(result, 500500);
}

// Channels work between plain threads alone: no goroutine, no goro::run.
TEST(ChanTest, PlainThreadsOnly) {
  const int per = scaled(3000);
  for (std::size_t cap : {std::size_t{0}, std::size_t{8}}) {
    SCOPED_TRACE("cap " + std::to_string(cap));
    auto c = goro::make_chan<int>(cap);
    std::atomic<long long> sum{0};
    std::atomic<int> count{0};
    std::vector<std::thread> producers, consumers;
    for (int p = 0; p < 3; ++p) {
      producers.emplace_back([c, per]() mutable {
        EXPECT_FALSE(goro::in_goroutine());
        for (int i = 1; i <= per; ++i) c.send(i);
      });
    }
    for (int p = 0; p < 3; ++p) {
      consumers.emplace_back([c, &sum, &count]() mutable {
        for (int v : c) {
          sum.fetch_add(v);
          count.fetch_add(1);
        }
      });
    }
    for (auto& t : producers) t.join();
    c.close();
    for (auto& t : consumers) t.join();
    EXPECT_EQ(count.load(), 3 * per);
    EXPECT_EQ(sum.load(), 3LL * per * (per + 1) / 2);
  }
}

TEST(ChanTest, PlainThreadBlockedInRecvIsWokenByGoroutine) {
  auto c = goro::make_chan<int>();
  std::atomic<bool> got{false};
  std::optional<int> v;
  std::thread t([&] {
    v = c.recv();
    got = true;
  });
  settle();
  EXPECT_FALSE(got.load());
  goro::go([c]() mutable { c.send(11); });
  t.join();
  EXPECT_EQ(v, 11);
}

TEST(ChanTest, GoroutineBlockedInRecvIsWokenByPlainThread) {
  auto c = goro::make_chan<int>();
  std::atomic<bool> got{false};
  std::optional<int> v;
  goro::wait_group wg;
  wg.go([&] {
    v = c.recv();
    got = true;
  });
  settle();
  EXPECT_FALSE(got.load());
  std::thread t([&] { c.send(12); });
  t.join();
  wg.wait();
  EXPECT_EQ(v, 12);
}

TEST(ChanTest, PlainThreadSenderBlockedOnFullChannelIsWokenByGoroutine) {
  auto c = goro::make_chan<int>(1);
  c.send(1);
  std::atomic<bool> sent{false};
  std::thread t([&] {
    c.send(2);
    sent = true;
  });
  settle();
  EXPECT_FALSE(sent.load());
  auto got = goro::make_chan<int>(2);
  goro::go([c, got]() mutable {
    got.send(*c.recv());
    got.send(*c.recv());
  });
  t.join();
  EXPECT_TRUE(sent.load());
  EXPECT_EQ(got.recv(), 1);
  EXPECT_EQ(got.recv(), 2);
}

TEST(ChanTest, PingPongBetweenThreadAndGoroutine) {
  const int rounds = scaled(2000);
  auto ping = goro::make_chan<int>();
  auto pong = goro::make_chan<int>();
  goro::go([ping, pong]() mutable {
    for (int v : ping) pong.send(v + 1);
    pong.close();
  });
  std::thread t([&] {
    for (int i = 0; i < rounds; ++i) {
      ping.send(i);
      auto v = pong.recv();
      if (v != i + 1) {
        ADD_FAILURE() << "round " << i;
        break;
      }
    }
    ping.close();
  });
  t.join();
  EXPECT_EQ(pong.recv(), std::nullopt);
}

TEST(ChanTest, CloseFromPlainThreadWakesGoroutinesAndThreads) {
  auto c = goro::make_chan<int>();
  std::atomic<int> arrived{0}, woke{0};
  goro::wait_group wg;
  for (int i = 0; i < 4; ++i) {
    wg.go([&] {
      arrived.fetch_add(1);
      if (!c.recv()) woke.fetch_add(1);
    });
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back([&] {
      arrived.fetch_add(1);
      if (!c.recv()) woke.fetch_add(1);
    });
  }
  ASSERT_TRUE(eventually([&] { return arrived.load() == 6; }));
  settle();
  EXPECT_EQ(woke.load(), 0);
  std::thread closer([&] { c.close(); });
  closer.join();
  wg.wait();
  for (auto& t : threads) t.join();
  EXPECT_EQ(woke.load(), 6);
}

}  // namespace
