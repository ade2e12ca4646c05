// Tour sections 40-43: the sync package, after the seed's chapter 3 ("The
// sync Package": Cond, Once, Pool; and the Mutex and WaitGroup examples).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <goro/goro.hpp>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tour.hpp"

GORO_TOUR_SECTION(40, "sync: Cond broadcast (button click)") {
  // A GUI button whose click several handlers wait for. broadcast() wakes
  // every waiter; signal() would wake only the longest-waiting one.
  struct button {
    goro::mutex mu;
    goro::cond clicked{mu};
  } btn;

  // Each handler locks before it reports that it runs and keeps the lock
  // until wait() releases it, so the click cannot slip in before it waits.
  auto subscribe = [&](std::function<void()> fn) {
    goro::wait_group running;
    running.add(1);
    goro::go([&btn, &running, fn = std::move(fn)] {
      std::unique_lock lk(btn.mu);
      running.done();
      btn.clicked.wait();
      fn();
    });
    running.wait();
  };

  goro::wait_group click_registered;
  click_registered.add(3);
  subscribe([&] {
    std::printf("Maximizing window.\n");
    click_registered.done();
  });
  subscribe([&] {
    std::printf("Displaying annoying dialog box!\n");
    click_registered.done();
  });
  subscribe([&] {
    std::printf("Mouse clicked.\n");
    click_registered.done();
  });
  {
    std::lock_guard lk(btn.mu);  // every handler is inside wait() now
  }
  btn.clicked.broadcast();
  click_registered.wait();
}

GORO_TOUR_SECTION(41, "sync: Once") {
  // 100 goroutines race to increment; once lets exactly one through.
  int count = 0;
  goro::once once;
  goro::wait_group increments;
  for (int i = 0; i < 100; ++i) increments.go([&] { once.call([&] { ++count; }); });
  increments.wait();
  std::printf("Count is %d\n", count);

  // once counts calls of call(), not distinct callables.
  int count2 = 0;
  goro::once once2;
  once2.call([&] { ++count2; });
  once2.call([&] { --count2; });
  std::printf("Count: %d (the second callable never ran)\n", count2);
}

GORO_TOUR_SECTION(42, "sync: Pool warming a cache") {
  // Connections are slow to make; warm a pool with them up front, and
  // requests then never wait for one.
  struct connection {
    int id;
  };
  std::atomic<int> connects{0};
  auto dial = [&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // slow to make
    return std::make_unique<connection>(connection{connects.fetch_add(1) + 1});
  };
  goro::pool<connection> conns(dial);
  for (int i = 0; i < 10; ++i) conns.put(dial());  // warm: 10 connections
  std::printf("warmed the cache with %d connections\n", connects.load());

  goro::wait_group requests;
  for (int i = 0; i < 10; ++i)
    requests.go([&] {
      auto c = conns.get();  // a warm connection, no dialing
      conns.put(std::move(c));
    });
  requests.wait();
  std::printf("served 10 requests; connections made: %d\n", connects.load());

  // A pool also bounds allocation under churn: 10,000 short-lived workers
  // each borrow a 1 KiB buffer; only a handful of buffers are ever made.
  std::atomic<int> created{0};
  auto make_buffer = [&] {
    created.fetch_add(1);
    return std::make_unique<std::vector<char>>(1024);
  };
  goro::pool<std::vector<char>> buffers(make_buffer);
  for (int i = 0; i < 4; ++i) buffers.put(make_buffer());  // seed with 4 KiB
  goro::wait_group workers;
  for (int i = 0; i < 10'000; ++i)
    workers.go([&] {
      auto mem = buffers.get();
      (*mem)[0] = 1;  // "use" it
      buffers.put(std::move(mem));
    });
  workers.wait();
  std::printf("%d buffers were created for 10000 workers.\n", created.load());
}

GORO_TOUR_SECTION(43, "sync: Mutex and WaitGroup") {
  // WaitGroup: wait for a set of goroutines to finish.
  goro::wait_group wg;
  goro::mutex print_mu;
  for (int i = 1; i <= 3; ++i)
    wg.go([&, i] {
      std::lock_guard lk(print_mu);
      std::printf("Hello from %d!\n", i);
    });
  wg.wait();

  // Mutex: guard a critical section. Increments and decrements interleave
  // in any order, but never lose an update.
  int count = 0;
  goro::mutex lock;
  auto increment = [&] {
    std::lock_guard lk(lock);
    ++count;
    std::printf("Incrementing: %d\n", count);
  };
  auto decrement = [&] {
    std::lock_guard lk(lock);
    --count;
    std::printf("Decrementing: %d\n", count);
  };
  goro::wait_group arithmetic;
  for (int i = 0; i <= 5; ++i) arithmetic.go(increment);
  for (int i = 0; i <= 5; ++i) arithmetic.go(decrement);
  arithmetic.wait();
  std::printf("Arithmetic complete: count = %d\n", count);
}
