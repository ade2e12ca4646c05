// Tour: goroutines and the scheduler (seed chapter 3 "goroutines", chapter 6).
#include <atomic>
#include <chrono>
#include <goro/goro.hpp>
#include <goro/testing.hpp>
#include <string>

#include "tour.hpp"

GORO_TOUR_SECTION(10, "goroutines: fork and join") {
  // Go: go sayHello(); the join point here is a channel receive.
  goro::run([] {
    auto done = goro::make_chan<void>();
    goro::go([done]() mutable {
      std::printf("hello from goroutine %llu\n",
                  static_cast<unsigned long long>(goro::goroutine_id()));
      done.close();
    });
    done.recv();  // join point
    std::printf("main goroutine %llu joined it\n",
                static_cast<unsigned long long>(goro::goroutine_id()));
  });
}

GORO_TOUR_SECTION(11, "goroutines are cheap: 100,000 of them") {
  goro::run([] {
    const int n = 100'000;
    std::atomic<int> ran{0};
    auto start = std::chrono::steady_clock::now();
    auto all_done = goro::make_chan<void>();
    for (int i = 0; i < n; ++i) {
      goro::go([&, all_done]() mutable {
        if (ran.fetch_add(1) + 1 == n) all_done.close();
      });
    }
    all_done.recv();
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    std::printf("spawned and finished %d goroutines in %lld us (%.0f ns each) on %d Ps\n", n,
                static_cast<long long>(us), us * 1000.0 / n, goro::max_procs());
  });
}

GORO_TOUR_SECTION(12, "parked goroutines cost a page of stack") {
  goro::run([] {
    const int n = 10'000;
    auto release = goro::make_chan<void>();
    std::atomic<int> parked{0};
    for (int i = 0; i < n; ++i) {
      goro::go([&, release]() mutable {
        parked++;
        release.recv();  // parks the goroutine, not the thread
      });
    }
    while (parked.load() < n) goro::yield();
    std::printf("%zu goroutines alive, all parked on one channel; closing it wakes them all\n",
                goro::num_goroutine());
    release.close();
  });
}

GORO_TOUR_SECTION(13, "goroutine leaks: find them, read their dump") {
  // Seed: "The garbage collector does nothing to collect goroutines that have
  // been abandoned". This one waits on a channel nobody will ever write to.
  goro::run([] {
    auto before = goro::testing::current_goroutines();
    auto do_work = [](goro::recv_chan<std::string> strings) {
      auto completed = goro::make_chan<void>();
      goro::go([strings, completed]() mutable {
        for (auto s : strings) std::printf("%s\n", s.c_str());
        completed.close();
      });
      return completed;
    };
    do_work(goro::recv_chan<std::string>());  // a nil channel: blocks forever
    std::string report = goro::testing::find_leaks(before, std::chrono::milliseconds(50));
    std::printf("leak check found:\n%s", report.c_str());
  });
}
