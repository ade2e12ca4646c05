// Patterns (API.md §9): or_channel, or_done, tee, bridge, fan_in and the
// pipeline stages generator, repeat, repeat_fn, take, map, filter. Each is
// checked for what it delivers (with the seed's examples) and for the
// cancellation contract: once `done` is closed, every stage closes its output
// and its goroutine ends, even when it is blocked sending to a consumer that
// stopped reading. Every test ends with a leak check (goro::testing): no
// goroutine started by the test may still be alive.

#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/goro.hpp>
#include <goro/patterns.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/testing.hpp>
#include <goro/time.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using goro_test::scaled;

// Every test checks, at its end, that the goroutines it started are gone:
// polled for up to 5 s (find_leaks sleeps between checks), never a tight bound.
class Patterns : public ::testing::Test {
 protected:
  void SetUp() override {
    goro::run([] {});  // the runtime is up before the snapshot
    before_ = goro::testing::current_goroutines();
  }
  void TearDown() override {
    EXPECT_EQ(goro::testing::find_leaks(before_, 5s), "") << "leaked goroutines";
  }
  goro::testing::goroutine_set before_;
};

// Every wait on a stage's output is bounded: a stage that failed to close its
// output fails the test instead of hanging it.
constexpr auto kWaitLimit = 10s;

// Receives from c until it is closed and drained (bounded by kWaitLimit).
template <class T>
std::vector<T> collect(goro::recv_chan<T> c) {
  std::vector<T> out;
  goro::timer limit(kWaitLimit);
  for (;;) {
    std::optional<T> v;
    if (goro::select(goro::recv(c, v), goro::recv(limit.c())) == 1) {
      ADD_FAILURE() << "output not closed within " << kWaitLimit.count() << " s";
      return out;
    }
    if (!v) return out;
    out.push_back(std::move(*v));
  }
}

// Receives until c is closed (bounded by kWaitLimit); fails past `limit`
// values. After done is closed a stage may still hand over the value it was
// sending, but it must then close its output.
template <class T>
std::size_t drain(goro::recv_chan<T> c, std::size_t limit = 16) {
  goro::timer t(kWaitLimit);
  for (std::size_t n = 0;; ++n) {
    std::optional<T> v;
    if (goro::select(goro::recv(c, v), goro::recv(t.c())) == 1) {
      ADD_FAILURE() << "output not closed within " << kWaitLimit.count() << " s of done";
      return n;
    }
    if (!v) return n;
    if (n >= limit) {
      ADD_FAILURE() << "stage kept producing after done was closed";
      return n;
    }
  }
}

// True if the signal channel c is closed (not merely signalled) within kWaitLimit.
bool closes(goro::recv_chan<void> c) {
  goro::timer t(kWaitLimit);
  bool got = true;
  if (goro::select(goro::recv(c, got), goro::recv(t.c())) == 1) return false;
  return !got;
}

// A signal channel closed after d, or when `stop` closes (so it never leaks a goroutine).
goro::recv_chan<void> sig_after(goro::clock::duration d, goro::recv_chan<void> stop) {
  auto c = goro::make_chan<void>();
  goro::go([c, d, stop]() mutable {
    goro::timer t(d);
    goro::select(goro::recv(t.c()), goro::recv(stop));
    c.close();
  });
  return c;
}

// Number of goroutines alive, stable after a short settle (for "no more than one
// goroutine" checks).
std::size_t goroutines_now() {
  goro::sleep(5ms);
  return goro::num_goroutine();
}

// ---------------------------------------------------------------------------
// or_channel

TEST_F(Patterns, OrChannelEmptyIsNil) {
  EXPECT_FALSE(goro::or_channel({}));
  EXPECT_FALSE(goro::or_channel({goro::recv_chan<void>(), goro::recv_chan<void>()}));
}

TEST_F(Patterns, OrChannelSingleIsItself) {
  auto c = goro::make_chan<void>();
  auto r = goro::or_channel({c});
  EXPECT_TRUE(r == goro::recv_chan<void>(c));
  // Nil channels are ignored: one real channel left is returned as is.
  auto r2 = goro::or_channel({goro::recv_chan<void>(), c, goro::recv_chan<void>()});
  EXPECT_TRUE(r2 == goro::recv_chan<void>(c));
}

// The seed's example: sig(2h), sig(5m), sig(1s), sig(1h), sig(1m) returns after
// the shortest; here scaled down to seconds and milliseconds.
TEST_F(Patterns, OrChannelFiresWithShortest) {
  goro::run([] {
    auto stop = goro::make_chan<void>();
    auto start = goro::clock::now();
    auto any = goro::or_channel({sig_after(20s, stop), sig_after(15s, stop), sig_after(50ms, stop),
                                 sig_after(10s, stop), sig_after(30s, stop)});
    EXPECT_TRUE(closes(any));
    auto elapsed = goro::clock::now() - start;
    EXPECT_GE(elapsed, 40ms);
    EXPECT_LT(elapsed, 9s);  // long before the next one
    stop.close();            // ends the other sig_after goroutines
  });
}

TEST_F(Patterns, OrChannelManyInputsOneGoroutine) {
  goro::run([] {
    const std::size_t n = 500;
    std::vector<goro::chan<void>> chans;
    std::vector<goro::recv_chan<void>> in;
    for (std::size_t i = 0; i < n; ++i) {
      chans.push_back(goro::make_chan<void>());
      in.push_back(chans.back());
    }
    const std::size_t base = goroutines_now();
    auto any = goro::or_channel(in);
    EXPECT_LE(goroutines_now(), base + 1) << "or_channel must not start a goroutine per input";
    EXPECT_EQ(any.try_recv(), -1);  // not closed yet
    chans[n / 2].close();
    EXPECT_TRUE(closes(any));
  });
}

TEST_F(Patterns, OrChannelNested) {
  goro::run([] {
    auto a = goro::make_chan<void>(), b = goro::make_chan<void>(), c = goro::make_chan<void>();
    auto ab = goro::or_channel({a, b});
    auto abc = goro::or_channel({ab, c});
    b.close();
    EXPECT_TRUE(closes(abc));
    EXPECT_TRUE(closes(ab));
  });
}

// ---------------------------------------------------------------------------
// or_done

TEST_F(Patterns, OrDoneForwardsUntilInputCloses) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto c = goro::make_chan<int>();
    goro::go([c]() mutable {
      for (int i = 0; i < 5; ++i) c.send(i);
      c.close();
    });
    EXPECT_EQ(collect(goro::or_done(done, c)), (std::vector<int>{0, 1, 2, 3, 4}));
    done.close();
  });
}

TEST_F(Patterns, OrDoneStopsOnDoneWhileInputStaysOpen) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto c = goro::make_chan<int>();  // nobody sends, nobody closes
    auto out = goro::or_done(done, c);
    done.close();
    EXPECT_EQ(drain(out, 0), 0u);
  });
}

TEST_F(Patterns, OrDoneStopsOnDoneWhileBlockedSending) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto c = goro::make_chan<int>(4);
    for (int i = 0; i < 4; ++i) c.send(i);
    auto out = goro::or_done(done, c);
    EXPECT_EQ(out.recv(), 0);
    goro::sleep(5ms);  // let it block sending 1
    done.close();
    drain(out);
  });
}

TEST_F(Patterns, OrDoneMoveOnly) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto c = goro::make_chan<std::unique_ptr<int>>(3);
    for (int i = 0; i < 3; ++i) c.send(std::make_unique<int>(i));
    c.close();
    auto got = collect(goro::or_done(done, c));
    ASSERT_EQ(got.size(), 3u);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(*got[static_cast<std::size_t>(i)], i);
    done.close();
  });
}

// ---------------------------------------------------------------------------
// tee

// The seed's example: tee over take(repeat(1, 2), 4), reading out1 and out2 in turn.
TEST_F(Patterns, TeeSeedExample) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto [out1, out2] = goro::tee(done, goro::take(done, goro::repeat(done, 1, 2), 4));
    std::vector<int> a, b;
    for (int i = 0; i < 4; ++i) {
      auto v = out1.recv();
      auto w = out2.recv();
      ASSERT_TRUE(v.has_value() && w.has_value());
      a.push_back(*v);
      b.push_back(*w);
    }
    EXPECT_EQ(a, (std::vector<int>{1, 2, 1, 2}));
    EXPECT_EQ(b, a);
    EXPECT_EQ(drain(out1, 0), 0u);
    EXPECT_EQ(drain(out2, 0), 0u);
    done.close();
  });
}

TEST_F(Patterns, TeeBothOutputsSameSequenceConcurrently) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    const int n = scaled(2000);
    std::vector<int> values(static_cast<std::size_t>(n));
    std::iota(values.begin(), values.end(), 0);
    auto src = goro::make_chan<int>();
    goro::go([src, n]() mutable {
      for (int i = 0; i < n; ++i) src.send(i);
      src.close();
    });
    auto outs = goro::tee(done, src);
    std::vector<int> b;
    goro::wait_group wg;
    wg.go([&b, o = outs.second]() mutable { b = collect(o); });
    std::vector<int> a = collect(outs.first);
    wg.wait();
    EXPECT_EQ(a, values);
    EXPECT_EQ(b, values);
    done.close();
  });
}

TEST_F(Patterns, TeeStopsOnDoneWhenOneConsumerStalls) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto outs = goro::tee(done, goro::repeat(done, std::string("x")));
    EXPECT_EQ(outs.first.recv(), "x");   // out2 is never read: tee blocks on it
    goro::sleep(5ms);
    done.close();
    drain(outs.first);
    drain(outs.second);
  });
}

// ---------------------------------------------------------------------------
// bridge

// The seed's genVals: a channel of 10 channels, each holding one value.
TEST_F(Patterns, BridgeSeedExample) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto streams = goro::make_chan<goro::recv_chan<int>>();
    goro::go([streams]() mutable {
      for (int i = 0; i < 10; ++i) {
        auto s = goro::make_chan<int>(1);
        s.send(i);
        s.close();
        streams.send(s);
      }
      streams.close();
    });
    std::vector<int> want(10);
    std::iota(want.begin(), want.end(), 0);
    EXPECT_EQ(collect(goro::bridge(done, goro::recv_chan<goro::recv_chan<int>>(streams))), want);
    done.close();
  });
}

TEST_F(Patterns, BridgeOfChanOfChanMultiValueStreams) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto streams2 = goro::make_chan<goro::chan<int>>();
    goro::go([streams2]() mutable {
      for (int i = 0; i < 5; ++i) {
        auto s = goro::make_chan<int>();
        streams2.send(s);
        for (int j = 0; j < 3; ++j) s.send(10 * i + j);  // unbuffered: bridge reads as we send
        s.close();
      }
      streams2.close();
    });
    std::vector<int> want;
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j < 3; ++j) want.push_back(10 * i + j);
    EXPECT_EQ(collect(goro::bridge(done, streams2)), want);
    done.close();
  });
}

TEST_F(Patterns, BridgeStopsOnDone) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    // An open stream that is never closed, inside an open channel of streams.
    auto streams = goro::make_chan<goro::recv_chan<int>>(1);
    auto s = goro::make_chan<int>(8);
    for (int i = 0; i < 8; ++i) s.send(i);
    streams.send(s);
    auto out = goro::bridge(done, streams);
    EXPECT_EQ(out.recv(), 0);
    goro::sleep(5ms);  // blocked sending 1 to us
    done.close();
    drain(out);

    // Blocked waiting for a stream.
    auto done2 = goro::make_chan<void>();
    auto out2 = goro::bridge(done2, goro::make_chan<goro::recv_chan<int>>());
    done2.close();
    EXPECT_EQ(drain(out2, 0), 0u);
  });
}

TEST_F(Patterns, BridgeMoveOnly) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto streams = goro::make_chan<goro::recv_chan<std::unique_ptr<int>>>(2);
    for (int i = 0; i < 2; ++i) {
      auto s = goro::make_chan<std::unique_ptr<int>>(1);
      s.send(std::make_unique<int>(i));
      s.close();
      streams.send(s);
    }
    streams.close();
    auto got = collect(goro::bridge(done, streams));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(*got[0], 0);
    EXPECT_EQ(*got[1], 1);
    done.close();
  });
}

// ---------------------------------------------------------------------------
// fan_in

TEST_F(Patterns, FanInMergesEverything) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    std::vector<goro::recv_chan<int>> ins;
    std::vector<int> want;
    for (int p = 0; p < 8; ++p) {
      ins.push_back(goro::generator(done, 100 * p, 100 * p + 1, 100 * p + 2, 100 * p + 3));
      for (int j = 0; j < 4; ++j) want.push_back(100 * p + j);
    }
    auto got = collect(goro::fan_in(done, ins));
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, want);
    done.close();
  });
}

TEST_F(Patterns, FanInKeepsPerInputOrder) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    const int n = scaled(1000);
    auto a = goro::make_chan<int>(), b = goro::make_chan<int>();
    goro::go([a, n]() mutable {
      for (int i = 0; i < n; ++i) a.send(i);
      a.close();
    });
    goro::go([b, n]() mutable {
      for (int i = 0; i < n; ++i) b.send(-i - 1);
      b.close();
    });
    int next_a = 0, next_b = -1, count = 0;
    for (int v : collect(goro::fan_in(done, {a, b}))) {  // the initializer_list<chan<T>> overload
      if (v >= 0) {
        EXPECT_EQ(v, next_a++);
      } else {
        EXPECT_EQ(v, next_b--);
      }
      ++count;
    }
    EXPECT_EQ(count, 2 * n);
    done.close();
  });
}

TEST_F(Patterns, FanInEmptyClosesAtOnce) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto out = goro::fan_in(done, std::vector<goro::recv_chan<int>>{});
    EXPECT_EQ(drain(out, 0), 0u);
    done.close();
  });
}

TEST_F(Patterns, FanInManyInputsOneGoroutine) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    const std::size_t n = 300;
    std::vector<goro::chan<int>> chans;
    for (std::size_t i = 0; i < n; ++i) chans.push_back(goro::make_chan<int>(1));
    const std::size_t base = goroutines_now();
    auto out = goro::fan_in(done, chans);  // the vector<chan<T>> overload
    EXPECT_LE(goroutines_now(), base + 1) << "fan_in must not start a goroutine per input";
    for (std::size_t i = 0; i < n; ++i) chans[i].send(static_cast<int>(i));
    long sum = 0;
    for (std::size_t i = 0; i < n; ++i) sum += *out.recv();
    EXPECT_EQ(sum, static_cast<long>(n * (n - 1) / 2));
    for (auto& c : chans) c.close();
    EXPECT_EQ(drain(out, 0), 0u);
    done.close();
  });
}

TEST_F(Patterns, FanInStopsOnDone) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    std::vector<goro::recv_chan<int>> ins;
    for (int i = 0; i < 4; ++i) ins.push_back(goro::repeat(done, i));
    ins.push_back(goro::recv_chan<int>());  // a nil input: never ends
    auto out = goro::fan_in(done, ins);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(out.recv().has_value());
    done.close();  // every repeat and the fan-in end; nobody reads `out` further
    goro::sleep(5ms);
    drain(out);
  });
}

TEST_F(Patterns, FanInMoveOnly) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto a = goro::make_chan<std::unique_ptr<int>>(1), b = goro::make_chan<std::unique_ptr<int>>(1);
    a.send(std::make_unique<int>(1));
    b.send(std::make_unique<int>(2));
    a.close();
    b.close();
    int sum = 0;
    using in_t = goro::recv_chan<std::unique_ptr<int>>;
    for (auto& p : collect(goro::fan_in(done, {in_t(a), in_t(b)}))) sum += *p;
    EXPECT_EQ(sum, 3);
    done.close();
  });
}

// ---------------------------------------------------------------------------
// generator, repeat, repeat_fn, take

TEST_F(Patterns, GeneratorSendsValuesInOrderThenCloses) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    EXPECT_EQ(collect(goro::generator(done, 1, 2, 3, 4)), (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(collect(goro::generator(done, 7)), (std::vector<int>{7}));
    // rest converts to T (the first value's type)
    EXPECT_EQ(collect(goro::generator(done, std::string("a"), "b", "c")),
              (std::vector<std::string>{"a", "b", "c"}));
    done.close();
  });
}

TEST_F(Patterns, GeneratorMoveOnly) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto got = collect(goro::generator(done, std::make_unique<int>(1), std::make_unique<int>(2)));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(*got[0], 1);
    EXPECT_EQ(*got[1], 2);
    done.close();
  });
}

TEST_F(Patterns, GeneratorStopsOnDone) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto out = goro::generator(done, 1, 2, 3);
    EXPECT_EQ(out.recv(), 1);
    done.close();  // 2 and 3 are never read
    drain(out);
  });
}

// The seed: `for num := range take(done, repeat(done, 1), 10)` prints ten 1s.
TEST_F(Patterns, RepeatTakeTen) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    EXPECT_EQ(collect(goro::take(done, goro::repeat(done, 1), 10)), std::vector<int>(10, 1));
    EXPECT_EQ(collect(goro::take(done, goro::repeat(done, 1, 2, 3), 7)),
              (std::vector<int>{1, 2, 3, 1, 2, 3, 1}));
    done.close();  // ends both repeats, blocked sending to their take
  });
}

// The seed: take(done, repeatFn(done, rand), 10).
TEST_F(Patterns, RepeatFnRandom) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    std::mt19937 rng(12345);
    std::uniform_int_distribution<int> dist(0, 99);
    auto rand = [rng, dist]() mutable { return dist(rng); };
    auto got = collect(goro::take(done, goro::repeat_fn(done, rand), 10));
    ASSERT_EQ(got.size(), 10u);
    for (int v : got) {
      EXPECT_GE(v, 0);
      EXPECT_LE(v, 99);
    }
    // The same generator state yields the same sequence.
    std::vector<int> want;
    for (int i = 0; i < 10; ++i) want.push_back(rand());
    EXPECT_EQ(got, want);
    done.close();
  });
}

TEST_F(Patterns, RepeatFnNotCalledAfterDone) {
  std::atomic<int> calls{0};
  goro::run([&calls] {
    auto done = goro::make_chan<void>();
    auto out = goro::repeat_fn(done, [&calls] { return calls.fetch_add(1) + 1; });
    EXPECT_EQ(out.recv(), 1);
    EXPECT_EQ(out.recv(), 2);
    done.close();
    drain(out);
  });
  // Once the stage's goroutine has ended, fn is never called again.
  EXPECT_EQ(goro::testing::find_leaks(before_, 5s), "");
  int after = calls.load();
  goro::sleep(10ms);
  EXPECT_EQ(calls.load(), after);
  EXPECT_LE(after, 3 + 16);
}

TEST_F(Patterns, TakeEdgeCases) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    // n == 0: closed at once, the input untouched.
    auto in = goro::make_chan<int>(1);
    in.send(5);
    EXPECT_EQ(drain(goro::take(done, in, 0), 0), 0u);
    EXPECT_EQ(in.len(), 1u);
    // Fewer values than n: ends when the input ends.
    EXPECT_EQ(collect(goro::take(done, goro::generator(done, 1, 2), 5)), (std::vector<int>{1, 2}));
    // Stops receiving after n: the rest stays in the input.
    auto in2 = goro::make_chan<int>(4);
    for (int i = 0; i < 4; ++i) in2.send(i);
    EXPECT_EQ(collect(goro::take(done, in2, 2)), (std::vector<int>{0, 1}));
    EXPECT_EQ(in2.recv(), 2);
    done.close();
  });
}

TEST_F(Patterns, TakeMoveOnly) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto in = goro::make_chan<std::unique_ptr<int>>(3);
    for (int i = 0; i < 3; ++i) in.send(std::make_unique<int>(i));
    auto got = collect(goro::take(done, in, 2));
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(*got[1], 1);
    done.close();
  });
}

TEST_F(Patterns, TakeStopsOnDone) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto out = goro::take(done, goro::make_chan<int>(), 10);  // input never delivers
    done.close();
    EXPECT_EQ(drain(out, 0), 0u);
  });
}

// ---------------------------------------------------------------------------
// map, filter, pipelines

// The seed's pipeline: generator(1,2,3,4) -> multiply(2) -> add(1) -> multiply(2).
TEST_F(Patterns, PipelineSeedExample) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto multiply = [](int m) { return [m](int v) { return v * m; }; };
    auto add = [](int a) { return [a](int v) { return v + a; }; };
    auto pipeline = goro::map(done, goro::map(done, goro::map(done, goro::generator(done, 1, 2, 3, 4), multiply(2)),
                                              add(1)),
                              multiply(2));
    EXPECT_EQ(collect(pipeline), (std::vector<int>{6, 10, 14, 18}));
    done.close();
  });
}

TEST_F(Patterns, PipelineGeneratorMapMapTake) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto out = goro::take(done,
                          goro::map(done, goro::map(done, goro::repeat(done, 1, 2, 3), [](int v) { return v * 10; }),
                                    [](int v) { return v + 1; }),
                          5);
    EXPECT_EQ(collect(out), (std::vector<int>{11, 21, 31, 11, 21}));
    done.close();
  });
}

TEST_F(Patterns, MapChangesType) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    goro::recv_chan<std::string> out =
        goro::map(done, goro::generator(done, 1, 22, 333), [](int v) { return std::to_string(v); });
    EXPECT_EQ(collect(out), (std::vector<std::string>{"1", "22", "333"}));
    done.close();
  });
}

TEST_F(Patterns, MapMoveOnly) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto in = goro::generator(done, std::make_unique<int>(3), std::make_unique<int>(4));
    auto out = goro::map(done, in, [](std::unique_ptr<int> p) {
      *p *= 2;
      return p;
    });
    auto got = collect(out);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(*got[0], 6);
    EXPECT_EQ(*got[1], 8);
    done.close();
  });
}

TEST_F(Patterns, FilterKeepsMatchingInOrder) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto evens = goro::filter(done, goro::take(done, goro::repeat_fn(done, [i = 0]() mutable { return i++; }), 20),
                              [](const int& v) { return v % 2 == 0; });
    EXPECT_EQ(collect(evens), (std::vector<int>{0, 2, 4, 6, 8, 10, 12, 14, 16, 18}));
    done.close();
  });
}

TEST_F(Patterns, FilterMoveOnlyPredTakesConstRef) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto in = goro::make_chan<std::unique_ptr<int>>(4);
    for (int i = 0; i < 4; ++i) in.send(std::make_unique<int>(i));
    in.close();
    auto out = goro::filter(done, in, [](const std::unique_ptr<int>& p) { return *p >= 2; });
    auto got = collect(out);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(*got[0], 2);
    EXPECT_EQ(*got[1], 3);
    done.close();
  });
}

TEST_F(Patterns, FilterStopsOnDoneWhenNothingMatches) {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto out = goro::filter(done, goro::repeat(done, 1), [](const int& v) { return v > 1; });
    goro::sleep(5ms);  // filter spins through non-matching values
    done.close();
    EXPECT_EQ(drain(out, 0), 0u);
  });
}

// The cancellation contract end to end: a long pipeline whose consumer stops
// reading; closing done ends every stage (each blocked in a send or a
// receive) and closes every output.
TEST_F(Patterns, WholePipelineCancelledWhileConsumerStalls) {
  goro::run([] {
    for (int round = 0; round < scaled(50); ++round) {
      auto done = goro::make_chan<void>();
      auto nums = goro::repeat_fn(done, [i = 0]() mutable { return i++; });
      auto sq = goro::map(done, nums, [](int v) { return long{v} * v; });
      auto odd = goro::filter(done, sq, [](const long& v) { return v % 2 == 1; });
      auto dup = goro::tee(done, odd);
      auto merged = goro::fan_in(done, {dup.first, dup.second});
      auto guarded = goro::or_done(done, merged);
      auto first = goro::take(done, guarded, 1000);
      for (int i = 0; i < 10; ++i) ASSERT_TRUE(first.recv().has_value());
      done.close();  // the consumer stops here
      drain(first);
    }
  });
}

TEST_F(Patterns, ContextDoneDrivesCancellation) {
  goro::run([] {
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    auto out = goro::map(ctx.done(), goro::repeat(ctx.done(), 2), [](int v) { return v * v; });
    EXPECT_EQ(out.recv(), 4);
    cancel();
    drain(out);
  });
}

TEST_F(Patterns, OrChannelAsDone) {
  goro::run([] {
    auto user = goro::make_chan<void>(), shutdown = goro::make_chan<void>();
    auto done = goro::or_channel({user, shutdown});
    auto out = goro::repeat(done, 1);
    EXPECT_EQ(out.recv(), 1);
    shutdown.close();
    // The or-channel closes `done` from its own goroutine, a moment later;
    // from then on the stage stops.
    EXPECT_TRUE(closes(done));
    drain(out);
  });
}

TEST_F(Patterns, ManyPipelinesConcurrently) {
  goro::run([] {
    const int n = goro_test::max_live(scaled(100));
    auto done = goro::make_chan<void>();
    goro::wait_group wg;
    std::atomic<long> total{0};
    for (int p = 0; p < n; ++p) {
      wg.go([&, p] {
        auto out = goro::take(done, goro::map(done, goro::repeat(done, p), [](int v) { return v + 1; }), 5);
        long s = 0;
        for (int v : collect(out)) s += v;
        total.fetch_add(s);
      });
    }
    wg.wait();
    EXPECT_EQ(total.load(), 5L * n * (n + 1) / 2);
    done.close();
  });
}

}  // namespace
