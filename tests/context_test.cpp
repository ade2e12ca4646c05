// goro::context (API.md §6): ports of Go's src/context tests (x_test.go and
// the XTest* internals of context_test.go, afterfunc tests), plus the
// properties goro adds: O(1) unlinking of finished children (a parent with a
// million short-lived children does not grow), lazily allocated done
// channels, plain-thread use.
//
// Deadline tests assert "not before" strictly and "not much after" loosely
// (seconds), for noisy shared machines.

#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "export_test.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using goro::context;
using goro_test::scaled;

// A generous bound for "should happen eventually" (Go's quiescent()).
constexpr auto quiescent = 20s;
constexpr auto very_long = 1000h;
constexpr auto short_duration = 1ms;

using goro_test::watchdog;

// Whether c's done channel is closed now (never blocks).
bool is_done(const context& c) {
  return goro::select(goro::recv(c.done()), goro::default_case()) == 0;
}

// Waits up to `limit` for c to be done.
bool wait_done(const context& c, goro::clock::duration limit = quiescent) {
  return goro::select(goro::recv(c.done()), goro::recv(goro::after(limit))) == 0;
}

std::size_t children(const context& c) { return goro::detail::context_children(c); }

// A context that is not one of the cancellable kinds between a parent and
// child (Go's otherContext): a value layer.
const goro::context_key<int> other_key("other");
context other(context c) { return goro::with_value(std::move(c), other_key, 0); }

TEST(Context, Background) {
  context c = goro::background();
  EXPECT_FALSE(c.done());  // the nil channel
  EXPECT_FALSE(is_done(c));
  EXPECT_FALSE(c.err());
  EXPECT_FALSE(c.deadline());
  EXPECT_TRUE(c == context());  // default-constructed is background
}

TEST(Context, TODO) {
  context c = goro::todo();
  EXPECT_FALSE(c.done());
  EXPECT_FALSE(is_done(c));
  EXPECT_FALSE(c.err());
  EXPECT_FALSE(c.deadline());
  EXPECT_FALSE(c == goro::background());
  EXPECT_TRUE(c == goro::todo());
}

TEST(Context, WithCancel) {
  watchdog w;
  auto [c1, cancel] = goro::with_cancel(goro::background());
  context o = other(c1);
  auto [c2, cancel2] = goro::with_cancel(o);
  std::vector<context> contexts{c1, o, c2};
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    EXPECT_TRUE(contexts[i].done()) << i;
    EXPECT_FALSE(contexts[i].err()) << i;
    EXPECT_FALSE(is_done(contexts[i])) << i;
  }
  cancel();  // propagates synchronously
  for (std::size_t i = 0; i < contexts.size(); ++i) {
    EXPECT_TRUE(is_done(contexts[i])) << i;
    EXPECT_TRUE(contexts[i].err() == goro::canceled) << i;
  }
  cancel();  // idempotent
  cancel2();
  EXPECT_TRUE(c2.err() == goro::canceled);
}

TEST(Context, DoneIsTheSameChannelEveryCall) {
  auto [c, cancel] = goro::with_cancel(goro::background());
  goro::recv_chan<void> d1 = c.done();
  goro::recv_chan<void> d2 = c.done();
  EXPECT_TRUE(d1 == d2);
  EXPECT_TRUE(other(c).done() == d1);  // a value layer shares its parent's
  cancel();
  EXPECT_TRUE(c.done() == d1);
  EXPECT_EQ(d1.try_recv(), 0);  // closed

  // Asked for only after the cancel: a closed channel, the same every time.
  auto [c3, cancel3] = goro::with_cancel(goro::background());
  cancel3();
  goro::recv_chan<void> d3 = c3.done();
  EXPECT_TRUE(d3);
  EXPECT_EQ(d3.try_recv(), 0);
  EXPECT_TRUE(c3.done() == d3);
}

TEST(Context, ParentFinishesChild) {
  watchdog w;
  // Go's XTestParentFinishesChild, with the children count as the window on
  // the parent's children map.
  // (Not structured bindings: clang 14 cannot capture those in a lambda.)
  auto parent_and_cancel = goro::with_cancel(goro::background());
  context parent = parent_and_cancel.first;
  goro::cancel_func cancel = parent_and_cancel.second;
  auto [cancel_child, stop1] = goro::with_cancel(parent);
  auto [timer_child, stop2] = goro::with_timeout(parent, very_long);
  goro::context_key<std::string> k("key");
  context value_child = goro::with_value(parent, k, std::string("value"));
  auto [after_child, stop3] = goro::with_cancel(value_child);
  EXPECT_EQ(children(parent), 3u);  // through the value layer too
  EXPECT_EQ(children(value_child), 3u);  // shares the parent's state

  for (const context& c : {parent, cancel_child, timer_child, value_child, after_child}) {
    EXPECT_FALSE(is_done(c));
    EXPECT_FALSE(c.err());
  }
  cancel();
  for (const context& c : {parent, cancel_child, timer_child, value_child, after_child}) {
    EXPECT_TRUE(is_done(c));
    EXPECT_TRUE(c.err() == goro::canceled);
  }
  EXPECT_EQ(children(parent), 0u);
  EXPECT_EQ(children(cancel_child), 0u);
  EXPECT_EQ(children(timer_child), 0u);

  // A child of a cancelled parent is done at once and never linked.
  auto [late, stop4] = goro::with_cancel(parent);
  EXPECT_TRUE(is_done(late));
  EXPECT_TRUE(late.err() == goro::canceled);
  EXPECT_EQ(children(parent), 0u);
  stop1();
  stop2();
  stop3();
  stop4();
}

TEST(Context, ChildFinishesFirst) {
  watchdog w;
  auto [cancelable, stop] = goro::with_cancel(goro::background());
  for (const context& parent : {goro::background(), cancelable}) {
    auto [child, cancel] = goro::with_cancel(parent);
    EXPECT_EQ(children(parent), parent == goro::background() ? 0u : 1u);
    cancel();
    EXPECT_TRUE(is_done(child));
    EXPECT_TRUE(child.err() == goro::canceled);
    EXPECT_EQ(children(parent), 0u);  // unlinked
    EXPECT_FALSE(is_done(parent));    // a child never cancels its parent
    EXPECT_FALSE(parent.err());
  }
  stop();
}

TEST(Context, CancelRemoves) {
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  EXPECT_EQ(children(ctx), 0u);
  auto [c1, cancel1] = goro::with_cancel(ctx);
  EXPECT_EQ(children(ctx), 1u);
  cancel1();
  EXPECT_EQ(children(ctx), 0u);
  auto [c2, cancel2] = goro::with_timeout(ctx, 60min);
  EXPECT_EQ(children(ctx), 1u);
  cancel2();
  EXPECT_EQ(children(ctx), 0u);
  auto stop = goro::after_func(ctx, [] {});
  EXPECT_EQ(children(ctx), 1u);
  EXPECT_TRUE(stop());
  EXPECT_EQ(children(ctx), 0u);
  cancel();
}

// A long-lived parent with a million short-lived children must not grow.
TEST(Context, MillionShortLivedChildrenDoNotAccumulate) {
  watchdog w(300s);
  // (Not structured bindings: clang 14 cannot capture those in a lambda.)
  auto parent_and_cancel = goro::with_cancel(goro::background());
  context parent = parent_and_cancel.first;
  goro::cancel_func cancel = parent_and_cancel.second;
  const int n = scaled(1'000'000);
  std::size_t max_seen = 0;
  goro::run([&] {
    for (int i = 0; i < n; ++i) {
      auto [child, cancel_child] = goro::with_cancel(parent);
      if (i % 4 == 0) (void)child.done();  // some with their done channel made
      cancel_child();
      if (i % 1024 == 0) max_seen = std::max(max_seen, children(parent));
    }
  });
  EXPECT_EQ(max_seen, 0u);
  EXPECT_EQ(children(parent), 0u);
  // Deadline children and after_func registrations, stopped early, likewise.
  for (int i = 0; i < scaled(100'000); ++i) {
    auto [child, cancel_child] = goro::with_timeout(parent, 1h);
    cancel_child();
    auto stop = goro::after_func(parent, [] {});
    EXPECT_TRUE(stop());
  }
  EXPECT_EQ(children(parent), 0u);
  EXPECT_FALSE(parent.err());
  cancel();
}

// Deadline children that expire on their own are unlinked too.
TEST(Context, ExpiredChildrenAreUnlinked) {
  watchdog w;
  // (Not structured bindings: clang 14 cannot capture those in a lambda.)
  auto parent_and_cancel = goro::with_cancel(goro::background());
  context parent = parent_and_cancel.first;
  goro::cancel_func cancel = parent_and_cancel.second;
  std::vector<context> kids;
  std::vector<goro::cancel_func> cancels;
  for (int i = 0; i < 100; ++i) {
    auto [c, cf] = goro::with_timeout(parent, 1ms);
    kids.push_back(c);
    cancels.push_back(cf);
  }
  for (auto& c : kids) ASSERT_TRUE(wait_done(c));
  EXPECT_TRUE(goro_test::eventually([&] { return children(parent) == 0; }));
  for (auto& c : kids) EXPECT_TRUE(c.err() == goro::deadline_exceeded);
  EXPECT_FALSE(parent.err());
  cancel();
}

void test_deadline(const context& c, goro::clock::time_point d, const char* name) {
  ASSERT_TRUE(wait_done(c)) << name << ": context not timed out";
  EXPECT_GE(goro::clock::now(), d) << name << ": done before its deadline";
  EXPECT_TRUE(c.err() == goro::deadline_exceeded) << name << ": " << c.err();
}

TEST(Context, Deadline) {
  watchdog w;
  {
    auto d = goro::clock::now() + short_duration;
    auto [c, cancel] = goro::with_deadline(goro::background(), d);
    ASSERT_TRUE(c.deadline());
    EXPECT_EQ(*c.deadline(), d);
    test_deadline(c, d, "with_deadline");
  }
  {
    auto d = goro::clock::now() + short_duration;
    auto [c, cancel] = goro::with_deadline(goro::background(), d);
    test_deadline(other(c), d, "with_deadline+other");
  }
  {
    auto d = goro::clock::now() + short_duration;
    auto [c, cancel] = goro::with_deadline(goro::background(), d);
    auto [c2, cancel2] = goro::with_deadline(other(c), goro::clock::now() + very_long);
    EXPECT_EQ(*c2.deadline(), d);  // the earlier (parent's) deadline wins
    test_deadline(c2, d, "with_deadline+other+with_deadline");
  }
  {
    auto d = goro::clock::now() - short_duration;
    auto [c, cancel] = goro::with_deadline(goro::background(), d);
    EXPECT_TRUE(is_done(c));  // in the past: done on return
    test_deadline(c, d, "with_deadline+inthepast");
  }
  {
    auto d = goro::clock::now();
    auto [c, cancel] = goro::with_deadline(goro::background(), d);
    test_deadline(c, d, "with_deadline+now");
  }
}

TEST(Context, Timeout) {
  watchdog w;
  goro::run([] {
    {
      auto start = goro::clock::now();
      auto [c, cancel] = goro::with_timeout(goro::background(), 50ms);
      ASSERT_TRUE(c.deadline());
      EXPECT_GE(*c.deadline(), start + 50ms);
      EXPECT_LE(*c.deadline(), goro::clock::now() + 50ms);
      test_deadline(c, start + 50ms, "with_timeout");
      EXPECT_LT(goro::clock::now() - start, 10s);  // loosely "not much after"
    }
    {
      auto start = goro::clock::now();
      auto [c, cancel] = goro::with_timeout(goro::background(), short_duration);
      test_deadline(other(c), start + short_duration, "with_timeout+other");
    }
    {
      auto start = goro::clock::now();
      auto [c, cancel] = goro::with_timeout(goro::background(), short_duration);
      auto [c2, cancel2] = goro::with_timeout(other(c), very_long);
      test_deadline(c2, start + short_duration, "with_timeout+other+with_timeout");
    }
  });
}

TEST(Context, TimeoutZeroIsAlreadyExpired) {
  auto [c, cancel] = goro::with_timeout(goro::background(), 0s);
  EXPECT_TRUE(is_done(c));
  EXPECT_TRUE(c.err() == goro::deadline_exceeded);
  auto [c2, cancel2] = goro::with_timeout(goro::background(), -5s);
  EXPECT_TRUE(is_done(c2));
}

TEST(Context, EarlierDeadlineWins) {
  auto now = goro::clock::now();
  auto [p, cp] = goro::with_deadline(goro::background(), now + 1h);
  auto [longer, c1] = goro::with_deadline(p, now + 2h);
  auto [shorter, c2] = goro::with_deadline(p, now + 30min);
  auto [plain, c3] = goro::with_cancel(p);
  EXPECT_EQ(*longer.deadline(), now + 1h);
  EXPECT_EQ(*shorter.deadline(), now + 30min);
  EXPECT_EQ(*plain.deadline(), now + 1h);
  EXPECT_EQ(*other(shorter).deadline(), now + 30min);
  EXPECT_FALSE(goro::without_cancel(shorter).deadline());
  cp();
  EXPECT_TRUE(longer.err() == goro::canceled);
  EXPECT_TRUE(shorter.err() == goro::canceled);
}

TEST(Context, CanceledTimeout) {
  auto [c, cancel0] = goro::with_timeout(goro::background(), 1s);
  context o = other(c);
  auto [c2, cancel] = goro::with_timeout(o, very_long);
  cancel();  // propagates synchronously
  EXPECT_TRUE(is_done(c2));
  EXPECT_TRUE(c2.err() == goro::canceled);
  EXPECT_FALSE(c.err());
  cancel0();
}

TEST(Context, Values) {
  goro::context_key<std::string> k1("k");
  goro::context_key<std::string> k2("k");  // same name, different key
  goro::context_key<std::string> k3("k3");
  EXPECT_FALSE(k1 == k2);
  goro::context_key<std::string> k1copy = k1;
  EXPECT_TRUE(k1copy == k1);

  auto check = [&](const context& c, const char* nm, const char* v1, const char* v2,
                   const char* v3) {
    auto one = [&](const goro::context_key<std::string>& k, const char* want, const char* kn) {
      const std::string* v = c.value(k);
      if (want == nullptr)
        EXPECT_EQ(v, nullptr) << nm << "." << kn;
      else if (v == nullptr)
        ADD_FAILURE() << nm << "." << kn << " missing, want " << want;
      else
        EXPECT_EQ(*v, want) << nm << "." << kn;
    };
    one(k1, v1, "k1");
    one(k2, v2, "k2");
    one(k3, v3, "k3");
  };

  context c0 = goro::background();
  check(c0, "c0", nullptr, nullptr, nullptr);
  context c1 = goro::with_value(goro::background(), k1, std::string("c1k1"));
  check(c1, "c1", "c1k1", nullptr, nullptr);
  context c2 = goro::with_value(c1, k2, std::string("c2k2"));
  check(c2, "c2", "c1k1", "c2k2", nullptr);
  context c3 = goro::with_value(c2, k3, std::string("c3k3"));
  check(c3, "c3", "c1k1", "c2k2", "c3k3");
  context c4 = goro::with_value(c3, k1, std::string(""));  // shadows k1
  check(c4, "c4", "", "c2k2", "c3k3");
  check(c3, "c3 again", "c1k1", "c2k2", "c3k3");  // parents unchanged
  EXPECT_EQ(c1.value(k1copy), c1.value(k1));      // a copy is the same key

  // Through cancellable layers and without_cancel.
  auto [cc, cancel] = goro::with_cancel(c3);
  check(cc, "cc", "c1k1", "c2k2", "c3k3");
  check(goro::without_cancel(cc), "wc", "c1k1", "c2k2", "c3k3");
  cancel();
  check(cc, "cc after cancel", "c1k1", "c2k2", "c3k3");

  // Typed: a key of another type with the same name does not collide.
  goro::context_key<int> ki("k");
  context ci = goro::with_value(c4, ki, 42);
  ASSERT_NE(ci.value(ki), nullptr);
  EXPECT_EQ(*ci.value(ki), 42);
  EXPECT_EQ(*ci.value(k1), "");
  // The pointer stays valid while a derived context lives.
  const int* p = nullptr;
  {
    context tmp = goro::with_value(goro::background(), ki, 7);
    ci = goro::with_value(tmp, k3, std::string("x"));
    p = tmp.value(ki);
  }
  EXPECT_EQ(*p, 7);
  EXPECT_EQ(ci.value(ki), p);
}

TEST(Context, SimultaneousCancels) {
  watchdog w;
  goro::run([] {
    auto [root, root_cancel] = goro::with_cancel(goro::background());
    std::vector<std::pair<context, goro::cancel_func>> m{{root, root_cancel}};
    std::vector<context> q{root};
    std::size_t qi = 0;
    while (qi < q.size() && m.size() < 100) {
      context parent = q[qi++];
      for (int i = 0; i < 4; ++i) {
        auto [ctx, cancel] = goro::with_cancel(parent);
        m.emplace_back(ctx, cancel);
        q.push_back(ctx);
      }
    }
    std::mt19937 rng(std::random_device{}());
    std::shuffle(m.begin(), m.end(), rng);
    goro::wait_group wg;
    for (auto& [ctx, cancel] : m) wg.go([c = cancel] { c(); });
    std::shuffle(m.begin(), m.end(), rng);
    for (auto& [ctx, cancel] : m) {
      ASSERT_TRUE(wait_done(ctx)) << "timed out waiting for <-ctx.done()";
      EXPECT_TRUE(ctx.err() == goro::canceled);
    }
    auto all = goro::make_chan<void>();
    goro::go([&] {
      wg.wait();
      all.close();
    });
    ASSERT_EQ(goro::select(goro::recv(all), goro::recv(goro::after(quiescent))), 0u)
        << "timed out waiting for cancel functions";
  });
}

TEST(Context, SimultaneousCancelsFromThreads) {
  watchdog w;
  // The same, with plain OS threads cancelling and waiting.
  auto [root, root_cancel] = goro::with_cancel(goro::background());
  std::vector<std::pair<context, goro::cancel_func>> m{{root, root_cancel}};
  for (std::size_t i = 0; m.size() < 60; ++i) {
    auto [ctx, cancel] = goro::with_cancel(m[i / 3].first);
    m.emplace_back(ctx, cancel);
  }
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (std::size_t i = t; i < m.size(); i += 4) m[m.size() - 1 - i].second();
      for (auto& [ctx, c] : m) ctx.done().recv();
    });
  for (auto& t : ts) t.join();
  for (auto& [ctx, c] : m) EXPECT_TRUE(ctx.err() == goro::canceled);
}

TEST(Context, InterlockedCancels) {
  watchdog w;
  goro::run([] {
    auto [parent, cancel_parent] = goro::with_cancel(goro::background());
    auto [child, cancel_child] = goro::with_cancel(parent);
    goro::go([parent = parent, cancel_child = cancel_child] {
      parent.done().recv();
      cancel_child();
    });
    cancel_parent();
    EXPECT_TRUE(wait_done(child));
  });
}

void test_layers(std::uint64_t seed, bool timeout) {
  std::mt19937_64 r(seed);
  // (No SCOPED_TRACE: gtest keeps it per OS thread, and a goroutine migrates.)
  const std::string when_seed = " seed=" + std::to_string(seed);
  const int min_layers = 30;
  std::vector<std::shared_ptr<goro::context_key<int>>> keys;
  std::vector<goro::cancel_func> cancels;
  int num_timers = 0;
  context ctx = goro::background();
  for (int i = 0; i < min_layers || num_timers == 0 || cancels.empty() || keys.empty(); ++i) {
    switch (r() % 3) {
      case 0: {
        auto k = std::make_shared<goro::context_key<int>>("layer");
        ctx = goro::with_value(ctx, *k, static_cast<int>(keys.size()));
        keys.push_back(k);
        break;
      }
      case 1: {
        auto [c, cancel] = goro::with_cancel(ctx);
        ctx = c;
        cancels.push_back(cancel);
        break;
      }
      case 2: {
        auto [c, cancel] = goro::with_timeout(ctx, timeout ? goro::clock::duration(short_duration)
                                                            : goro::clock::duration(very_long));
        ctx = c;
        cancels.push_back(cancel);
        ++num_timers;
        break;
      }
    }
  }
  auto check_values = [&](const char* when) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const int* v = ctx.value(*keys[i]);
      ASSERT_NE(v, nullptr) << when << when_seed;
      EXPECT_EQ(*v, static_cast<int>(i)) << when << when_seed;
    }
  };
  if (!timeout) EXPECT_FALSE(is_done(ctx)) << "ctx should not be canceled yet" << when_seed;
  check_values("before cancel");
  if (timeout) {
    EXPECT_TRUE(wait_done(ctx)) << "ctx should have timed out" << when_seed;
    check_values("after timeout");
  } else {
    cancels[r() % cancels.size()]();
    EXPECT_TRUE(is_done(ctx)) << "ctx should be canceled" << when_seed;
    check_values("after cancel");
  }
  for (auto& c : cancels) c();
}

TEST(Context, LayersCancel) {
  watchdog w;
  for (int i = 0; i < 20; ++i) test_layers(std::random_device{}(), false);
}

TEST(Context, LayersTimeout) {
  watchdog w;
  goro::run([] {
    for (int i = 0; i < 20; ++i) test_layers(std::random_device{}(), true);
  });
}

TEST(Context, WithCancelCanceledParent) {
  auto [parent, pcancel] = goro::with_cancel_cause(goro::background());
  goro::error why = goro::new_error("Because!");
  pcancel(why);
  auto [c, cancel] = goro::with_cancel(parent);
  EXPECT_TRUE(is_done(c)) << "child not done immediately upon construction";
  EXPECT_TRUE(c.err() == goro::canceled);
  EXPECT_TRUE(goro::cause(c) == why);
}

TEST(Context, WithCancelSimultaneouslyCanceledParent) {
  watchdog w;
  goro::run([] {
    for (int i = 0; i < 100; ++i) {
      auto [parent, pcancel] = goro::with_cancel_cause(goro::background());
      goro::error why = goro::new_error("Because!");
      goro::go([pcancel = pcancel, why] { pcancel(why); });
      auto [c, cancel] = goro::with_cancel(parent);
      c.done().recv();
      EXPECT_TRUE(c.err() == goro::canceled);
      EXPECT_TRUE(goro::cause(c) == why);
    }
  });
}

TEST(Context, Cause) {
  const auto forever = 1'000'000s;
  goro::error parent_cause = goro::new_error("parentCause");
  goro::error child_cause = goro::new_error("childCause");
  goro::error too_slow = goro::new_error("tooSlow");
  goro::error finished_early = goro::new_error("finishedEarly");
  struct tc {
    const char* name;
    std::function<context()> ctx;
    goro::error err, cause;
  };
  std::vector<tc> tests = {
      {"Background", [] { return goro::background(); }, {}, {}},
      {"TODO", [] { return goro::todo(); }, {}, {}},
      {"WithCancel",
       [] {
         auto [ctx, cancel] = goro::with_cancel(goro::background());
         cancel();
         return ctx;
       },
       goro::canceled, goro::canceled},
      {"WithCancelCause",
       [&] {
         auto [ctx, cancel] = goro::with_cancel_cause(goro::background());
         cancel(parent_cause);
         return ctx;
       },
       goro::canceled, parent_cause},
      {"WithCancelCause nil",
       [] {
         auto [ctx, cancel] = goro::with_cancel_cause(goro::background());
         cancel(goro::error());
         return ctx;
       },
       goro::canceled, goro::canceled},
      {"WithCancelCause: parent cause before child",
       [&] {
         auto [p, cancel_parent] = goro::with_cancel_cause(goro::background());
         auto [ctx, cancel_child] = goro::with_cancel_cause(p);
         cancel_parent(parent_cause);
         cancel_child(child_cause);
         return ctx;
       },
       goro::canceled, parent_cause},
      {"WithCancelCause: parent cause after child",
       [&] {
         auto [p, cancel_parent] = goro::with_cancel_cause(goro::background());
         auto [ctx, cancel_child] = goro::with_cancel_cause(p);
         cancel_child(child_cause);
         cancel_parent(parent_cause);
         return ctx;
       },
       goro::canceled, child_cause},
      {"WithCancelCause: parent cause before nil",
       [&] {
         auto [p, cancel_parent] = goro::with_cancel_cause(goro::background());
         auto [ctx, cancel_child] = goro::with_cancel(p);
         cancel_parent(parent_cause);
         cancel_child();
         return ctx;
       },
       goro::canceled, parent_cause},
      {"WithCancelCause: parent cause after nil",
       [&] {
         auto [p, cancel_parent] = goro::with_cancel_cause(goro::background());
         auto [ctx, cancel_child] = goro::with_cancel(p);
         cancel_child();
         cancel_parent(parent_cause);
         return ctx;
       },
       goro::canceled, goro::canceled},
      {"WithCancelCause: child cause after nil",
       [&] {
         auto [p, cancel_parent] = goro::with_cancel(goro::background());
         auto [ctx, cancel_child] = goro::with_cancel_cause(p);
         cancel_parent();
         cancel_child(child_cause);
         return ctx;
       },
       goro::canceled, goro::canceled},
      {"WithCancelCause: child cause before nil",
       [&] {
         auto [p, cancel_parent] = goro::with_cancel(goro::background());
         auto [ctx, cancel_child] = goro::with_cancel_cause(p);
         cancel_child(child_cause);
         cancel_parent();
         return ctx;
       },
       goro::canceled, child_cause},
      {"WithTimeout",
       [] {
         auto [ctx, cancel] = goro::with_timeout(goro::background(), 0s);
         cancel();
         return ctx;
       },
       goro::deadline_exceeded, goro::deadline_exceeded},
      {"WithTimeout canceled",
       [&] {
         auto [ctx, cancel] = goro::with_timeout(goro::background(), forever);
         cancel();
         return ctx;
       },
       goro::canceled, goro::canceled},
      {"WithTimeoutCause",
       [&] {
         auto [ctx, cancel] = goro::with_timeout_cause(goro::background(), 0s, too_slow);
         cancel();
         return ctx;
       },
       goro::deadline_exceeded, too_slow},
      {"WithTimeoutCause canceled",
       [&] {
         auto [ctx, cancel] = goro::with_timeout_cause(goro::background(), forever, too_slow);
         cancel();
         return ctx;
       },
       goro::canceled, goro::canceled},
      {"WithTimeoutCause stacked",
       [&] {
         auto [p, cancel] = goro::with_cancel_cause(goro::background());
         auto [ctx, c2] = goro::with_timeout_cause(p, 0s, too_slow);
         cancel(finished_early);
         return ctx;
       },
       goro::deadline_exceeded, too_slow},
      {"WithTimeoutCause stacked canceled",
       [&] {
         auto [p, cancel] = goro::with_cancel_cause(goro::background());
         auto [ctx, c2] = goro::with_timeout_cause(p, forever, too_slow);
         cancel(finished_early);
         return ctx;
       },
       goro::canceled, finished_early},
      {"WithoutCancel", [] { return goro::without_cancel(goro::background()); }, {}, {}},
      {"WithoutCancel canceled",
       [&] {
         auto [p, cancel] = goro::with_cancel_cause(goro::background());
         context ctx = goro::without_cancel(p);
         cancel(finished_early);
         return ctx;
       },
       {}, {}},
      {"WithoutCancel timeout",
       [&] {
         auto [p, cancel] = goro::with_timeout_cause(goro::background(), 0s, too_slow);
         context ctx = goro::without_cancel(p);
         cancel();
         return ctx;
       },
       {}, {}},
  };
  for (auto& t : tests) {
    context ctx = t.ctx();
    EXPECT_TRUE(ctx.err() == t.err) << t.name << ": err() = " << ctx.err() << " want " << t.err;
    EXPECT_TRUE(goro::cause(ctx) == t.cause)
        << t.name << ": cause() = " << goro::cause(ctx) << " want " << t.cause;
  }
}

TEST(Context, CauseRace) {
  watchdog w;
  goro::run([] {
    goro::error why = goro::new_error("TestCauseRace");
    auto [ctx, cancel] = goro::with_cancel_cause(goro::background());
    goro::go([cancel = cancel, why] { cancel(why); });
    for (;;) {
      // Poll cause, rather than waiting for done, to test its synchronization.
      if (goro::error e = goro::cause(ctx)) {
        EXPECT_TRUE(e == why);
        break;
      }
      goro::yield();
    }
  });
}

TEST(Context, WithoutCancel) {
  goro::context_key<std::string> key("key");
  auto [parent, cancel] = goro::with_timeout(
      goro::with_value(goro::background(), key, std::string("value")), 1h);
  context ctx = goro::without_cancel(parent);
  EXPECT_FALSE(ctx.deadline());
  EXPECT_FALSE(ctx.done());
  EXPECT_FALSE(ctx.err());
  ASSERT_NE(ctx.value(key), nullptr);
  EXPECT_EQ(*ctx.value(key), "value");
  cancel();
  EXPECT_TRUE(parent.err() == goro::canceled);
  EXPECT_FALSE(ctx.err());
  EXPECT_FALSE(is_done(ctx));
  // Children of a without_cancel context are cancelled only by their own cancel.
  auto [child, cancel_child] = goro::with_cancel(ctx);
  EXPECT_FALSE(is_done(child));
  cancel_child();
  EXPECT_TRUE(is_done(child));
}

TEST(Context, AfterFuncCalledAfterCancel) {
  watchdog w;
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  auto donec = goro::make_chan<void>();
  auto stop = goro::after_func(ctx, [donec]() mutable { donec.close(); });
  EXPECT_EQ(goro::select(goro::recv(donec), goro::recv(goro::after(short_duration))), 1u)
      << "after_func called before context is done";
  cancel();
  EXPECT_EQ(goro::select(goro::recv(donec), goro::recv(goro::after(quiescent))), 0u)
      << "after_func not called after context is canceled";
  EXPECT_FALSE(stop());
}

TEST(Context, AfterFuncCalledAfterTimeout) {
  watchdog w;
  auto [ctx, cancel] = goro::with_timeout(goro::background(), short_duration);
  auto donec = goro::make_chan<void>();
  auto stop = goro::after_func(ctx, [donec]() mutable { donec.close(); });
  EXPECT_EQ(goro::select(goro::recv(donec), goro::recv(goro::after(quiescent))), 0u)
      << "after_func not called after context timed out";
  cancel();
}

TEST(Context, AfterFuncCalledImmediately) {
  watchdog w;
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  cancel();
  auto donec = goro::make_chan<void>();
  auto stop = goro::after_func(ctx, [donec]() mutable { donec.close(); });
  EXPECT_EQ(goro::select(goro::recv(donec), goro::recv(goro::after(quiescent))), 0u)
      << "after_func not called for already-canceled context";
  EXPECT_FALSE(stop());
}

TEST(Context, AfterFuncNotCalledAfterStop) {
  watchdog w;
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  auto donec = goro::make_chan<void>();
  auto stop = goro::after_func(ctx, [donec]() mutable { donec.close(); });
  EXPECT_TRUE(stop());
  cancel();
  EXPECT_EQ(goro::select(goro::recv(donec), goro::recv(goro::after(20ms))), 1u)
      << "after_func called after stop";
  EXPECT_FALSE(stop());
}

// Cancel does not wait for after_funcs to finish.
TEST(Context, AfterFuncCalledAsynchronously) {
  watchdog w;
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  auto donec = goro::make_chan<void>();
  auto stop = goro::after_func(ctx, [donec]() mutable { donec.send(); });
  cancel();  // would deadlock if it ran f inline
  EXPECT_EQ(goro::select(goro::recv(donec), goro::recv(goro::after(quiescent))), 0u);
  stop();
}

TEST(Context, AfterFuncOnBackgroundNeverRuns) {
  std::atomic<bool> ran{false};
  auto stop = goro::after_func(goro::background(), [&] { ran = true; });
  EXPECT_TRUE(stop());
  EXPECT_FALSE(stop());
  EXPECT_FALSE(ran);
}

TEST(Context, AfterFuncStopRace) {
  watchdog w;
  // Exactly one of {f runs, stop() returns true}, whoever wins.
  const int n = scaled(2000);
  std::atomic<int> ran{0}, stopped{0};
  goro::run([&] {
    goro::wait_group wg;
    for (int i = 0; i < n; ++i) {
      auto [ctx, cancel] = goro::with_cancel(goro::background());
      auto stop = goro::after_func(ctx, [&] { ran.fetch_add(1); });
      wg.go([cancel = cancel] { cancel(); });
      wg.go([stop, &stopped] {
        if (stop()) stopped.fetch_add(1);
      });
    }
    wg.wait();
  });
  EXPECT_TRUE(goro_test::eventually([&] { return ran.load() + stopped.load() == n; }));
  EXPECT_EQ(ran.load() + stopped.load(), n);
}

TEST(Context, DoneWakesGoroutinesAndThreads) {
  watchdog w;
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  std::atomic<int> woke{0};
  goro::wait_group wg;
  for (int i = 0; i < 8; ++i)
    wg.go([ctx = ctx, &woke] {
      ctx.done().recv();
      woke.fetch_add(1);
    });
  std::thread t([ctx = ctx, &woke] {
    ctx.done().recv();
    woke.fetch_add(1);
  });
  goro_test::settle();
  EXPECT_EQ(woke.load(), 0);
  cancel();
  wg.wait();
  t.join();
  EXPECT_EQ(woke.load(), 9);
}

// A done channel held alone (context and cancel function dropped) is still
// closed when an ancestor is cancelled, as in Go.
TEST(Context, DoneChannelOutlivesItsContext) {
  // (Not structured bindings: clang 14 cannot capture those in a lambda.)
  auto parent_and_cancel = goro::with_cancel(goro::background());
  context parent = parent_and_cancel.first;
  goro::cancel_func cancel = parent_and_cancel.second;
  goro::recv_chan<void> d;
  {
    auto [child, cancel_child] = goro::with_cancel(parent);
    d = child.done();
  }
  EXPECT_EQ(d.try_recv(), -1);
  cancel();
  EXPECT_EQ(d.try_recv(), 0);
  EXPECT_EQ(children(parent), 0u);
}

// A parent dropped without being cancelled releases its children (checked by
// ASan's leak detector when enabled, and by the children still working).
TEST(Context, UncancelledParentReleasesChildren) {
  goro::cancel_func child_cancel;
  context child;
  {
    // (Not structured bindings: clang 14 cannot capture those in a lambda.)
  auto parent_and_cancel = goro::with_cancel(goro::background());
  context parent = parent_and_cancel.first;
  goro::cancel_func cancel = parent_and_cancel.second;
    auto [c, cc] = goro::with_cancel(parent);
    child = c;
    child_cancel = cc;
  }
  EXPECT_FALSE(child.err());
  child_cancel();  // the parent state may be gone; unlinking must cope
  EXPECT_TRUE(child.err() == goro::canceled);
  child = context();
  child_cancel = nullptr;
  for (int i = 0; i < 1000; ++i) {
    auto [p, pc] = goro::with_cancel(goro::background());
    auto [c1, cc1] = goro::with_cancel(p);
    auto [c2, cc2] = goro::with_timeout(c1, 10ms);
    (void)c2.done();
    cc2();
  }
}

TEST(Context, AfterFuncRejectsEmptyFunction) {
  EXPECT_THROW((void)goro::after_func(goro::background(), std::function<void()>()),
               goro::panic_error);
}

}  // namespace
