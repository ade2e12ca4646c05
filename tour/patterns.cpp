// Tour: the seed's chapter 4 patterns (pipelines, generators, the or-channel,
// or-done, tee, bridge, fan-in) with <goro/patterns.hpp>, and chapter 5's
// rate limiting with <goro/rate.hpp>.
#include <goro/goro.hpp>

#include <chrono>
#include <random>
#include <vector>

#include "tour.hpp"

using namespace std::chrono_literals;

GORO_TOUR_SECTION(70, "patterns: a pipeline of generator, map and take") {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto multiply = [](int m) { return [m](int v) { return v * m; }; };
    auto add = [](int a) { return [a](int v) { return v + a; }; };
    // generator -> multiply(2) -> add(1) -> multiply(2), as in the seed.
    auto pipeline = goro::map(done, goro::map(done, goro::map(done, goro::generator(done, 1, 2, 3, 4),
                                                              multiply(2)),
                                              add(1)),
                              multiply(2));
    for (int v : pipeline) std::printf("%d\n", v);
    // repeat + take: an infinite stream, cut to 10 values.
    std::printf("repeat(1) taken 10 times:");
    for (int v : goro::take(done, goro::repeat(done, 1), 10)) std::printf(" %d", v);
    std::printf("\n");
    std::mt19937 rng(42);
    std::printf("repeat_fn(rand) taken 3 times:");
    for (unsigned v : goro::take(done, goro::repeat_fn(done, [&] { return rng() % 100; }), 3))
      std::printf(" %u", v);
    std::printf("\n");
    done.close();  // the repeat stages, still running, end here: no leak
  });
}

GORO_TOUR_SECTION(71, "patterns: the or-channel") {
  goro::run([] {
    auto sig = [](goro::clock::duration after) {
      auto c = goro::make_chan<void>();
      goro::go([c, after]() mutable {
        goro::sleep(after);
        c.close();
      });
      return goro::recv_chan<void>(c);
    };
    auto start = goro::clock::now();
    goro::or_channel({sig(2h), sig(5min), sig(50ms), sig(1h), sig(1min)}).recv();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(goro::clock::now() - start);
    std::printf("done after %lld ms (the 50 ms signal won)\n", static_cast<long long>(ms.count()));
    // The four slower signal goroutines are still asleep; the program ends anyway.
  });
}

GORO_TOUR_SECTION(72, "patterns: tee, bridge and fan-in") {
  goro::run([] {
    auto done = goro::make_chan<void>();
    auto [out1, out2] = goro::tee(done, goro::take(done, goro::repeat(done, 1, 2), 4));
    for (int v : out1) {
      std::printf("out1: %d, out2: %d\n", v, *out2.recv());
    }
    // bridge: a channel of channels, read as one stream.
    auto streams = goro::make_chan<goro::recv_chan<int>>();
    goro::go([streams]() mutable {
      for (int i = 0; i < 5; ++i) {
        auto s = goro::make_chan<int>(1);
        s.send(i);
        s.close();
        streams.send(s);
      }
      streams.close();
    });
    std::printf("bridge:");
    for (int v : goro::bridge(done, goro::recv_chan<goro::recv_chan<int>>(streams)))
      std::printf(" %d", v);
    std::printf("\n");
    // fan-in: three producers, one consumer, one goroutine in between.
    std::vector<goro::recv_chan<int>> ins;
    for (int p = 0; p < 3; ++p) ins.push_back(goro::generator(done, p * 100, p * 100 + 1));
    int sum = 0, n = 0;
    for (int v : goro::fan_in(done, ins)) {
      sum += v;
      ++n;
    }
    std::printf("fan-in: %d values, sum %d\n", n, sum);
    done.close();
  });
}

GORO_TOUR_SECTION(73, "rate limiting: a token bucket and tiers") {
  goro::run([] {
    // 10 events/s with bursts of 3: the first 3 pass at once, then one per 100 ms.
    goro::rate::limiter lim(goro::rate::every(100ms), 3);
    auto start = goro::clock::now();
    for (int i = 0; i < 6; ++i) {
      if (goro::error err = lim.wait(goro::background())) {
        std::printf("wait: %s\n", err.message().c_str());
        return;
      }
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(goro::clock::now() - start);
      std::printf("event %d at ~%lld ms\n", i, static_cast<long long>((ms.count() + 50) / 100 * 100));
    }
    // The seed's MultiLimiter: 2 per second and 10 per minute, both enforced.
    goro::rate::multi_limiter api({std::make_shared<goro::rate::limiter>(goro::rate::every(6s), 10),
                                   std::make_shared<goro::rate::limiter>(2, 1)});
    std::printf("multi_limiter: strictest limit %.3f events/s\n", api.get_limit());
    // A deadline the limiter cannot meet fails at once instead of waiting.
    goro::rate::limiter slow(goro::rate::every(1s), 1);
    (void)slow.allow();
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 100ms);
    goro::error err = slow.wait(ctx);
    cancel();
    std::printf("wait with a 100 ms deadline for a token due in 1 s: %s\n",
                err ? err.message().c_str() : "ok");
  });
}
