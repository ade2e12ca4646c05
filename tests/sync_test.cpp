// The sync package (API.md §4): ports of Go's src/sync tests (mutex_test.go,
// rwmutex_test.go, waitgroup_test.go, cond_test.go, once_test.go,
// pool_test.go), plus plain-thread and mixed thread/goroutine use, starvation
// mode, and destroy-right-after-wait lifetimes (meant to be run under ASan).
//
// Goroutine-side tests run inside goro::run under GOMAXPROCS 1 and 2 (and 4
// where parallelism matters): with one P, a primitive that spun instead of
// parking would deadlock, so those runs also prove parking. Every test runs
// under a watchdog that aborts the binary if it hangs.

#include <goro/chan.hpp>
#include <goro/runtime.hpp>
#include <goro/sync.hpp>
#include <goro/time.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "export_test.hpp"
#include "test_util.hpp"

namespace {

using namespace std::chrono_literals;
using goro_test::eventually;
using goro_test::scaled;
using goro_test::settle;

// Aborts the process if a test runs past its limit (a deadlock would
// otherwise hang until ctest's timeout, without saying which test).
using goro_test::watchdog;

class SyncTest : public ::testing::Test {
 protected:
  watchdog dog_{goro_test::sanitizer_build() ? 300s : 120s};
};
using MutexTest = SyncTest;
using RWMutexTest = SyncTest;
using WaitGroupTest = SyncTest;
using CondTest = SyncTest;
using OnceTest = SyncTest;
using PoolTest = SyncTest;

// Runs f as a goroutine (goro::run) with GOMAXPROCS = procs.
template <class F>
void run_procs(int procs, F&& f) {
  int old = goro::set_max_procs(procs);
  goro::run(std::forward<F>(f));
  goro::set_max_procs(old);
}

// Go's `for i := 0; i < 100; i++ {}` inside a critical section.
void spin_a_little() {
  for (int k = 0; k < 100; ++k) asm volatile("" ::: "memory");
}

// Busy-works (without blocking) for about d.
void busy_for(std::chrono::microseconds d) {
  auto until = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < until) {
  }
}

// =============================================================================
// mutex

static_assert(noexcept(std::declval<goro::mutex&>().try_lock()));

// Go's HammerMutex: lock/unlock, a third of the time via try_lock. Also
// checks exclusion with a plain counter.
void hammer_mutex(goro::mutex& m, int loops, long& counter) {
  for (int i = 0; i < loops; ++i) {
    if (i % 3 == 0) {
      if (m.try_lock()) {
        ++counter;
        m.unlock();
      }
      continue;
    }
    m.lock();
    ++counter;
    m.unlock();
  }
}

TEST_F(MutexTest, GoTestMutex) {
  for (int procs : {1, 2, 4}) {
    SCOPED_TRACE("GOMAXPROCS " + std::to_string(procs));
    run_procs(procs, [] {
      goro::mutex m;
      m.lock();
      EXPECT_FALSE(m.try_lock()) << "try_lock succeeded with mutex locked";
      m.unlock();
      EXPECT_TRUE(m.try_lock()) << "try_lock failed with mutex unlocked";
      m.unlock();

      long counter = 0;  // guarded by m
      const int loops = scaled(1000);
      auto done = goro::make_chan<bool>();
      for (int i = 0; i < 10; ++i)
        goro::go([&] {
          hammer_mutex(m, loops, counter);
          done.send(true);
        });
      for (int i = 0; i < 10; ++i) done.recv();
      // Two thirds lock unconditionally; the try_lock third may fail.
      EXPECT_GE(counter, 10L * (loops - (loops + 2) / 3));
      EXPECT_LE(counter, 10L * loops);
    });
  }
}

TEST_F(MutexTest, ExclusionUnderContention) {
  for (int procs : {1, 2, 4}) {
    SCOPED_TRACE("GOMAXPROCS " + std::to_string(procs));
    run_procs(procs, [] {
      goro::mutex m;
      long counter = 0;  // guarded by m; non-atomic on purpose
      const int n = 8, loops = scaled(20000);
      goro::wait_group wg;
      for (int i = 0; i < n; ++i)
        wg.go([&] {
          for (int j = 0; j < loops; ++j) {
            std::lock_guard lk(m);
            ++counter;
            if (j % 64 == 0) goro::yield();  // sometimes hold it across a switch
          }
        });
      wg.wait();
      EXPECT_EQ(counter, long{n} * loops);
    });
  }
}

TEST_F(MutexTest, UnlockOfUnlockedMutexPanics) {
  goro::mutex m;
  EXPECT_THROW(m.unlock(), goro::panic_error);
  m.lock();
  m.unlock();
  try {
    m.unlock();
    FAIL() << "second unlock did not throw";
  } catch (const goro::panic_error& e) {
    EXPECT_STREQ(e.what(), "sync: unlock of unlocked mutex");
  }
  // Still usable.
  m.lock();
  EXPECT_FALSE(m.try_lock());
  m.unlock();
}

TEST_F(MutexTest, StandardLockTypes) {
  run_procs(2, [] {
    goro::mutex a, b;
    {
      std::lock_guard lk(a);
      EXPECT_FALSE(a.try_lock());
    }
    {
      std::unique_lock lk(a, std::try_to_lock);
      EXPECT_TRUE(lk.owns_lock());
      lk.unlock();
      EXPECT_TRUE(a.try_lock());
      a.unlock();
    }
    // std::scoped_lock's deadlock avoidance (lock one, try the other) across
    // goroutines taking the pair in opposite orders.
    long counter = 0;
    goro::wait_group wg;
    for (int i = 0; i < 4; ++i)
      wg.go([&, i] {
        for (int j = 0; j < scaled(2000); ++j) {
          if (i % 2 == 0) {
            std::scoped_lock lk(a, b);
            ++counter;
          } else {
            std::scoped_lock lk(b, a);
            ++counter;
          }
        }
      });
    wg.wait();
    EXPECT_EQ(counter, 4L * scaled(2000));
  });
}

TEST_F(MutexTest, UnlockedByAnotherGoroutine) {
  run_procs(2, [] {
    goro::mutex m;
    m.lock();
    auto unlocked = goro::make_chan<bool>();
    goro::go([&] {
      m.unlock();  // Go allows it: a mutex is not tied to a goroutine
      unlocked.send(true);
    });
    unlocked.recv();
    EXPECT_TRUE(m.try_lock());
    m.unlock();
  });
}

// Go's TestMutexFairness: a goroutine that holds the mutex almost all the
// time, relocking at once, must not starve another one. Only starvation mode
// gets the second one through: in normal mode the running hog wins every race
// against the woken waiter. The hog yields while holding the mutex (Go's test
// sleeps there) so that a single P can run the other goroutine at all.
void mutex_fairness(int procs) {
  run_procs(procs, [] {
    goro::mutex mu;
    std::atomic<bool> stop{false};
    goro::wait_group hog_done;
    hog_done.go([&] {
      while (!stop.load()) {
        mu.lock();
        busy_for(100us);
        goro::yield();
        mu.unlock();
      }
    });
    auto done = goro::make_chan<bool>(1);
    goro::go([&] {
      for (int i = 0; i < 10; ++i) {
        busy_for(100us);
        goro::yield();
        mu.lock();
        mu.unlock();
      }
      done.send(true);
    });
    done.recv();  // the watchdog bounds this (Go: 10 s)
    stop.store(true);
    hog_done.wait();
  });
}

TEST_F(MutexTest, GoTestMutexFairnessOneProc) { mutex_fairness(1); }
TEST_F(MutexTest, GoTestMutexFairnessTwoProcs) { mutex_fairness(2); }

// Starvation mode across plain threads and goroutines: a plain-thread hog
// against goroutine waiters, and a goroutine hog against a plain thread.
TEST_F(MutexTest, StarvationModeThreadHogGoroutineWaiter) {
  goro::mutex mu;
  std::atomic<bool> stop{false};
  std::thread hog([&] {
    while (!stop.load()) {
      mu.lock();
      busy_for(100us);
      mu.unlock();
    }
  });
  std::atomic<int> got{0};
  run_procs(2, [&] {
    goro::wait_group wg;
    for (int g = 0; g < 3; ++g)
      wg.go([&] {
        for (int i = 0; i < 10; ++i) {
          mu.lock();
          got.fetch_add(1);
          mu.unlock();
          busy_for(50us);
        }
      });
    wg.wait();
  });
  stop.store(true);
  hog.join();
  EXPECT_EQ(got.load(), 30);
}

TEST_F(MutexTest, StarvationModeGoroutineHogThreadWaiter) {
  goro::mutex mu;
  std::atomic<bool> stop{false};
  std::atomic<bool> hog_running{false};
  int old = goro::set_max_procs(2);
  goro::wait_group hog_done;
  hog_done.go([&] {
    hog_running.store(true);
    while (!stop.load()) {
      mu.lock();
      busy_for(100us);
      mu.unlock();
    }
  });
  ASSERT_TRUE(eventually([&] { return hog_running.load(); }));
  for (int i = 0; i < 10; ++i) {
    mu.lock();
    mu.unlock();
    busy_for(50us);
  }
  stop.store(true);
  hog_done.wait();  // from a plain thread
  goro::set_max_procs(old);
}

// Many goroutines lock once each while a hog keeps the mutex busy: all get
// through (starvation mode serves the queue in order).
TEST_F(MutexTest, StarvationModeServesEveryWaiter) {
  run_procs(2, [] {
    goro::mutex mu;
    std::atomic<bool> stop{false};
    goro::wait_group hog_done;
    hog_done.go([&] {
      while (!stop.load()) {
        mu.lock();
        busy_for(50us);
        goro::yield();
        mu.unlock();
      }
    });
    goro::wait_group wg;
    std::atomic<int> got{0};
    for (int i = 0; i < 20; ++i)
      wg.go([&] {
        mu.lock();
        got.fetch_add(1);
        mu.unlock();
      });
    wg.wait();
    stop.store(true);
    hog_done.wait();
    EXPECT_EQ(got.load(), 20);
  });
}

TEST_F(MutexTest, PlainThreadsAndGoroutinesShareAMutex) {
  goro::mutex m;
  long counter = 0;  // guarded by m
  const int loops = scaled(20000);
  int old = goro::set_max_procs(2);
  goro::wait_group wg;
  for (int i = 0; i < 4; ++i)
    wg.go([&] {
      for (int j = 0; j < loops; ++j) {
        std::lock_guard lk(m);
        ++counter;
      }
    });
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < loops; ++j) {
        std::lock_guard lk(m);
        ++counter;
      }
    });
  for (auto& t : threads) t.join();
  wg.wait();
  goro::set_max_procs(old);
  EXPECT_EQ(counter, 6L * loops);
}

// A mutex may be destroyed by whoever locks it last, even while the previous
// unlock() is still returning (ASan checks that unlock touches nothing after
// the hand-over).
TEST_F(MutexTest, DestroyedRightAfterLastUnlock) {
  for (int procs : {1, 2}) {
    run_procs(procs, [] {
      for (int i = 0; i < scaled(2000); ++i) {
        auto* m = new goro::mutex;
        m->lock();
        goro::wait_group wg;
        wg.go([m] {
          m->lock();  // blocks until the owner unlocks
          m->unlock();
          delete m;
        });
        if (i % 2 == 0) goro::yield();  // let it queue, sometimes
        m->unlock();
        wg.wait();
      }
    });
  }
}

// =============================================================================
// rw_mutex

// Go's TestParallelReaders: numReaders goroutines hold the read lock at once.
void parallel_readers(int num_readers, int procs) {
  run_procs(procs, [num_readers] {
    goro::rw_mutex m;
    auto clocked = goro::make_chan<bool>();
    auto cunlock = goro::make_chan<bool>();
    auto cdone = goro::make_chan<bool>();
    for (int i = 0; i < num_readers; ++i)
      goro::go([&] {
        m.lock_shared();
        clocked.send(true);
        cunlock.recv();
        m.unlock_shared();
        cdone.send(true);
      });
    for (int i = 0; i < num_readers; ++i) clocked.recv();  // all hold it at once
    for (int i = 0; i < num_readers; ++i) cunlock.send(true);
    for (int i = 0; i < num_readers; ++i) cdone.recv();
  });
}

TEST_F(RWMutexTest, GoTestParallelReaders) {
  parallel_readers(1, 4);
  parallel_readers(3, 4);
  parallel_readers(4, 2);
  parallel_readers(4, 1);
}

// Go's HammerRWMutex: activity = active readers + 10000 * active writers.
void hammer_rw_mutex(int procs, int num_readers, int iterations) {
  run_procs(procs, [=] {
    std::atomic<int> activity{0};
    goro::rw_mutex rwm;
    std::atomic<int> bad{0};
    auto cdone = goro::make_chan<bool>();
    auto reader = [&] {
      for (int i = 0; i < iterations; ++i) {
        rwm.lock_shared();
        int n = activity.fetch_add(1) + 1;
        if (n < 1 || n >= 10000) bad.fetch_add(1);
        spin_a_little();
        activity.fetch_sub(1);
        rwm.unlock_shared();
      }
      cdone.send(true);
    };
    auto writer = [&] {
      for (int i = 0; i < iterations; ++i) {
        rwm.lock();
        int n = activity.fetch_add(10000) + 10000;
        if (n != 10000) bad.fetch_add(1);
        spin_a_little();
        activity.fetch_sub(10000);
        rwm.unlock();
      }
      cdone.send(true);
    };
    goro::go(writer);
    int i = 0;
    for (; i < num_readers / 2; ++i) goro::go(reader);
    goro::go(writer);
    for (; i < num_readers; ++i) goro::go(reader);
    for (int j = 0; j < 2 + num_readers; ++j) cdone.recv();
    EXPECT_EQ(bad.load(), 0);
  });
}

TEST_F(RWMutexTest, GoTestRWMutex) {
  goro::rw_mutex m;
  m.lock();
  EXPECT_FALSE(m.try_lock()) << "try_lock succeeded with mutex locked";
  EXPECT_FALSE(m.try_lock_shared()) << "try_lock_shared succeeded with mutex locked";
  m.unlock();
  EXPECT_TRUE(m.try_lock()) << "try_lock failed with mutex unlocked";
  m.unlock();
  EXPECT_TRUE(m.try_lock_shared()) << "try_lock_shared failed with mutex unlocked";
  EXPECT_TRUE(m.try_lock_shared()) << "try_lock_shared failed with mutex rlocked";
  EXPECT_FALSE(m.try_lock()) << "try_lock succeeded with mutex rlocked";
  m.unlock_shared();
  m.unlock_shared();

  const int n = scaled(1000);
  for (int procs : {1, 4})
    for (int readers : {1, 3, 10}) {
      SCOPED_TRACE("GOMAXPROCS " + std::to_string(procs) + ", readers " + std::to_string(readers));
      hammer_rw_mutex(procs, readers, n);
    }
  hammer_rw_mutex(2, 5, n);
}

// Go's TestRLocker, with the read side taken and released through
// std::shared_lock (moved across goroutines: a lock is not tied to one).
TEST_F(RWMutexTest, GoTestRLockerWithSharedLock) {
  run_procs(2, [] {
    goro::rw_mutex wl;
    auto wlocked = goro::make_chan<bool>(1);
    auto rlocked = goro::make_chan<bool>(1);
    auto handed = goro::make_chan<std::shared_lock<goro::rw_mutex>>(1);
    const int n = 10;
    goro::go([&] {
      for (int i = 0; i < n; ++i) {
        std::shared_lock<goro::rw_mutex> r1(wl);
        std::shared_lock<goro::rw_mutex> r2(wl);
        handed.send(std::move(r1));
        handed.send(std::move(r2));  // buffered 1: waits until the first is taken
        rlocked.send(true);
        wl.lock();
        wlocked.send(true);
      }
    });
    for (int i = 0; i < n; ++i) {
      auto r1 = handed.recv();
      auto r2 = handed.recv();
      rlocked.recv();
      r1->unlock();
      EXPECT_FALSE(wlocked.try_recv().has_value()) << "shared_lock did not read-lock it";
      r2->unlock();
      wlocked.recv();
      EXPECT_FALSE(rlocked.try_recv().has_value()) << "read lock did not respect the write lock";
      wl.unlock();
    }
  });
}

// Writer preference: while a writer waits, new readers wait too, and get in
// only after the writer has had its turn.
TEST_F(RWMutexTest, WaitingWriterStopsNewReaders) {
  for (int procs : {1, 2}) {
    run_procs(procs, [] {
      goro::rw_mutex rw;
      std::atomic<bool> writer_done{false};
      std::atomic<bool> reader2_saw_writer_done{false};
      std::atomic<bool> reader2_in{false};
      rw.lock_shared();
      goro::wait_group wg;
      wg.go([&] {
        rw.lock();
        writer_done.store(true);
        rw.unlock();
      });
      // Wait until the writer has announced itself.
      for (;;) {
        if (!rw.try_lock_shared()) break;
        rw.unlock_shared();
        goro::yield();
      }
      wg.go([&] {
        rw.lock_shared();
        reader2_in.store(true);
        reader2_saw_writer_done.store(writer_done.load());
        rw.unlock_shared();
      });
      for (int i = 0; i < 100; ++i) goro::yield();
      EXPECT_FALSE(writer_done.load());
      EXPECT_FALSE(reader2_in.load()) << "a new reader got in ahead of a waiting writer";
      rw.unlock_shared();
      wg.wait();
      EXPECT_TRUE(reader2_saw_writer_done.load());
    });
  }
}

// A goroutine's read lock sits in a slot of its P (src/sync.cpp), not in the
// shared counter: writers must still see it, whether they try or wait, from
// a goroutine or a plain thread.
TEST_F(RWMutexTest, ReadLockHeldInASlotKeepsWritersOut) {
  run_procs(2, [] {
    goro::rw_mutex rw;
    auto held = goro::make_chan<bool>();
    auto release = goro::make_chan<bool>();
    goro::wait_group wg;
    wg.go([&] {
      rw.lock_shared();
      held.send(true);
      release.recv();
      rw.unlock_shared();
    });
    held.recv();
    EXPECT_FALSE(rw.try_lock()) << "try_lock from a goroutine ignored a read lock";
    bool thread_got_it = true;
    std::thread([&] { thread_got_it = rw.try_lock(); }).join();
    EXPECT_FALSE(thread_got_it) << "try_lock from a plain thread ignored a read lock";
    std::atomic<bool> writer_in{false};
    wg.go([&] {
      rw.lock();
      writer_in = true;
      rw.unlock();
    });
    for (int i = 0; i < 100; ++i) goro::sleep(std::chrono::microseconds(100));
    EXPECT_FALSE(writer_in.load()) << "a writer got in past a read lock";
    release.send(true);
    wg.wait();
    EXPECT_TRUE(writer_in.load());
    EXPECT_TRUE(rw.try_lock());
    rw.unlock();
  });
}

// Read locks taken on either side of a GOMAXPROCS change (slots are used only
// above 1) are released on the other side.
TEST_F(RWMutexTest, ReadLocksSurviveAGomaxprocsChange) {
  const int old = goro::set_max_procs(2);
  goro::run([] {
    goro::rw_mutex rw;
    rw.lock_shared();  // in a slot
    goro::set_max_procs(1);
    rw.lock_shared();  // in the counter
    EXPECT_FALSE(rw.try_lock());
    rw.unlock_shared();
    EXPECT_FALSE(rw.try_lock());
    goro::set_max_procs(2);
    rw.unlock_shared();
    EXPECT_TRUE(rw.try_lock()) << "a read lock was lost across the change";
    rw.unlock();
  });
  goro::set_max_procs(old);
}

// Read locks held while their goroutines park and move between Ps, released
// by another goroutine than the one that took them, and more of them nested
// at once than a P has slots: writers never overlap a reader, and every lock
// ends unlocked (try_lock succeeds).
TEST_F(RWMutexTest, ReadLocksThatMoveOrChangeHandsStillCount) {
  run_procs(4, [] {
    constexpr int nlocks = 6;  // nested: more than a P's 4 slots
    goro::rw_mutex rw[nlocks];
    std::atomic<int> activity[nlocks] = {};
    std::atomic<int> bad{0};
    const int iterations = scaled(300);
    goro::wait_group wg;
    auto handoff = goro::make_chan<int>(16);  // index of a read lock for someone else to release
    for (int r = 0; r < 6; ++r)
      wg.go([&, r] {
        for (int i = 0; i < iterations; ++i) {
          for (int j = 0; j < nlocks; ++j) {
            rw[j].lock_shared();
            int n = activity[j].fetch_add(1) + 1;
            if (n < 1 || n >= 10000) bad.fetch_add(1);
          }
          if ((i + r) % 3 == 0) goro::sleep(std::chrono::microseconds(50));  // may move
          else goro::yield();
          for (int j = nlocks - 1; j >= 0; --j) {
            activity[j].fetch_sub(1);
            if (j == 0 && (i + r) % 2 == 0) handoff.send(0);  // released elsewhere
            else rw[j].unlock_shared();
          }
        }
      });
    goro::wait_group releasers;
    for (int k = 0; k < 2; ++k)
      releasers.go([&] {
        while (auto j = handoff.recv()) rw[*j].unlock_shared();
      });
    for (int w = 0; w < 2; ++w)
      wg.go([&] {
        for (int i = 0; i < iterations; ++i)
          for (int j = 0; j < nlocks; ++j) {
            rw[j].lock();
            if (activity[j].fetch_add(10000) + 10000 != 10000) bad.fetch_add(1);
            goro::yield();
            activity[j].fetch_sub(10000);
            rw[j].unlock();
          }
      });
    wg.wait();
    handoff.close();
    releasers.wait();
    EXPECT_EQ(bad.load(), 0);
    for (auto& m : rw) {
      EXPECT_TRUE(m.try_lock()) << "a read lock was never released";
      m.unlock();
    }
  });
}

TEST_F(RWMutexTest, MisusePanics) {
  goro::rw_mutex rw;
  EXPECT_THROW(rw.unlock(), goro::panic_error);
  EXPECT_THROW(rw.unlock_shared(), goro::panic_error);
  // Still usable after the (undone) misuse.
  rw.lock();
  rw.unlock();
  rw.lock_shared();
  rw.unlock_shared();
  EXPECT_TRUE(rw.try_lock());
  rw.unlock();
}

TEST_F(RWMutexTest, PlainThreadsAndGoroutines) {
  goro::rw_mutex rw;
  std::atomic<int> activity{0};
  std::atomic<int> bad{0};
  const int loops = scaled(5000);
  auto read = [&] {
    for (int i = 0; i < loops; ++i) {
      std::shared_lock lk(rw);
      int n = activity.fetch_add(1) + 1;
      if (n < 1 || n >= 10000) bad.fetch_add(1);
      activity.fetch_sub(1);
    }
  };
  auto write = [&] {
    for (int i = 0; i < loops; ++i) {
      std::lock_guard lk(rw);
      if (activity.fetch_add(10000) + 10000 != 10000) bad.fetch_add(1);
      activity.fetch_sub(10000);
    }
  };
  int old = goro::set_max_procs(2);
  goro::wait_group wg;
  wg.go(read);
  wg.go(write);
  wg.go(read);
  std::thread t1(read), t2(write);
  t1.join();
  t2.join();
  wg.wait();
  goro::set_max_procs(old);
  EXPECT_EQ(bad.load(), 0);
}

// =============================================================================
// wait_group

// Go's testWaitGroup: wg1 counts goroutines in, wg2 is a barrier.
void go_test_wait_group(goro::wait_group& wg1, goro::wait_group& wg2) {
  const int n = 16;
  wg1.add(n);
  wg2.add(n);
  auto exited = goro::make_chan<bool>(n);
  for (int i = 0; i != n; ++i)
    goro::go([&] {
      wg1.done();
      wg2.wait();
      exited.send(true);
    });
  wg1.wait();
  for (int i = 0; i != n; ++i) {
    EXPECT_FALSE(exited.try_recv().has_value()) << "wait_group released group too soon";
    wg2.done();
  }
  for (int i = 0; i != n; ++i) exited.recv();  // blocks if the barrier fails someone
}

TEST_F(WaitGroupTest, GoTestWaitGroup) {
  for (int procs : {1, 2}) {
    run_procs(procs, [] {
      goro::wait_group wg1, wg2;
      // The same pair, several rounds: the barrier must be reusable.
      for (int i = 0; i != 8; ++i) go_test_wait_group(wg1, wg2);
    });
  }
}

TEST_F(WaitGroupTest, GoTestWaitGroupMisuse) {
  goro::wait_group wg;
  wg.add(1);
  wg.done();
  try {
    wg.done();
    FAIL() << "negative counter did not panic";
  } catch (const goro::panic_error& e) {
    EXPECT_STREQ(e.what(), "sync: negative WaitGroup counter");
  }
  EXPECT_THROW(wg.add(-5), goro::panic_error);
  wg.wait();  // the counter is still zero
}

// Go's TestWaitGroupRace: no spurious wake-up of wait.
TEST_F(WaitGroupTest, GoTestWaitGroupRace) {
  run_procs(2, [] {
    for (int i = 0; i < scaled(1000); ++i) {
      goro::wait_group wg;
      std::atomic<int> n{0};
      wg.add(1);
      goro::go([&] {
        n.fetch_add(1);
        wg.done();
      });
      wg.add(1);
      goro::go([&] {
        n.fetch_add(1);
        wg.done();
      });
      wg.wait();
      ASSERT_EQ(n.load(), 2) << "spurious wake-up from wait";
    }
  });
}

TEST_F(WaitGroupTest, ManyWaitersAtOnce) {
  for (int procs : {1, 2}) {
    run_procs(procs, [] {
      goro::wait_group work, waiters;
      std::atomic<int> released{0};
      work.add(1);
      for (int i = 0; i < 50; ++i)
        waiters.go([&] {
          work.wait();
          released.fetch_add(1);
        });
      for (int i = 0; i < 20; ++i) goro::yield();
      EXPECT_EQ(released.load(), 0);
      work.done();
      waiters.wait();
      EXPECT_EQ(released.load(), 50);
      work.wait();  // zero: returns at once
    });
  }
}

TEST_F(WaitGroupTest, GoHelperDestroysClosureBeforeDone) {
  run_procs(2, [] {
    auto token = std::make_shared<int>(7);
    std::atomic<int> sum{0};
    goro::wait_group wg;
    for (int i = 0; i < 10; ++i)
      wg.go([token, &sum, i] { sum.fetch_add(*token + i); });
    wg.wait();
    EXPECT_EQ(sum.load(), 70 + 45);
    // Every copy of token died with its closure, before its done().
    EXPECT_EQ(token.use_count(), 1);
  });
}

// The wait_group may be destroyed as soon as wait() returns: the done() that
// released it must not touch it afterwards (ASan would see it).
TEST_F(WaitGroupTest, DestroyedRightAfterWait) {
  for (int procs : {1, 2}) {
    run_procs(procs, [] {
      for (int i = 0; i < scaled(2000); ++i) {
        auto* wg = new goro::wait_group;
        wg->add(2);
        goro::go([wg] { wg->done(); });
        goro::go([wg] { wg->done(); });
        wg->wait();
        delete wg;
      }
    });
  }
}

// Several waiters; the last to return destroys it.
TEST_F(WaitGroupTest, DestroyedByLastOfManyWaiters) {
  run_procs(2, [] {
    for (int i = 0; i < scaled(500); ++i) {
      auto* wg = new goro::wait_group;
      auto* left = new std::atomic<int>(3);
      goro::wait_group all;
      wg->add(1);
      for (int w = 0; w < 3; ++w)
        all.go([wg, left] {
          wg->wait();
          if (left->fetch_sub(1) == 1) {
            delete wg;
            delete left;
          }
        });
      if (i % 2 == 0) goro::yield();
      wg->done();
      all.wait();
    }
  });
}

TEST_F(WaitGroupTest, PlainThreadWaitsForGoroutines) {
  int old = goro::set_max_procs(2);
  goro::wait_group wg;
  std::atomic<int> n{0};
  for (int i = 0; i < 100; ++i) wg.go([&] { n.fetch_add(1); });
  wg.wait();  // the gtest thread: blocks the thread
  EXPECT_EQ(n.load(), 100);
  goro::set_max_procs(old);
}

TEST_F(WaitGroupTest, GoroutineWaitsForPlainThreads) {
  run_procs(2, [] {
    goro::wait_group wg;
    std::atomic<int> n{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
      wg.add(1);
      threads.emplace_back([&] {
        std::this_thread::sleep_for(1ms);
        n.fetch_add(1);
        wg.done();
      });
    }
    wg.wait();  // parks the goroutine
    EXPECT_EQ(n.load(), 4);
    for (auto& t : threads) t.join();
  });
}

// =============================================================================
// cond

// Go's TestCondSignal.
TEST_F(CondTest, GoTestCondSignal) {
  for (int procs : {1, 2}) {
    run_procs(procs, [] {
      // Shared ownership: a woken goroutine still unlocks m after main has
      // seen its `awake` and may have returned (Go's GC hides this).
      struct state {
        goro::mutex m;
        goro::cond c{m};
      };
      auto st = std::make_shared<state>();
      goro::mutex& m = st->m;
      goro::cond& c = st->c;
      int n = 2;
      auto running = goro::make_chan<bool>(n);
      auto awake = goro::make_chan<bool>(n);
      for (int i = 0; i < n; ++i)
        goro::go([st, running, awake]() mutable {
          st->m.lock();
          running.send(true);
          st->c.wait();
          awake.send(true);
          st->m.unlock();
        });
      for (int i = 0; i < n; ++i) running.recv();  // everyone is waiting (or about to)
      while (n > 0) {
        EXPECT_FALSE(awake.try_recv().has_value()) << "goroutine not asleep";
        m.lock();
        c.signal();
        m.unlock();
        awake.recv();  // deadlocks if nobody wakes
        EXPECT_FALSE(awake.try_recv().has_value()) << "too many goroutines awake";
        --n;
      }
      c.signal();
    });
  }
}

// Go's TestCondSignalGenerations: signal wakes waiters in FIFO order.
TEST_F(CondTest, GoTestCondSignalGenerations) {
  for (int procs : {1, 2}) {
    run_procs(procs, [] {
      goro::mutex m;
      goro::cond c(m);
      const int n = 100;
      auto running = goro::make_chan<bool>(n);
      auto awake = goro::make_chan<int>(n);
      for (int i = 0; i < n; ++i) {
        goro::go([&, i] {
          m.lock();
          running.send(true);
          c.wait();
          awake.send(i);
          m.unlock();
        });
        if (i > 0) {
          int a = *awake.recv();
          ASSERT_EQ(a, i - 1) << "wrong goroutine woke up";
        }
        running.recv();
        m.lock();
        c.signal();
        m.unlock();
      }
      EXPECT_EQ(*awake.recv(), n - 1);
    });
  }
}

// Go's TestCondBroadcast.
TEST_F(CondTest, GoTestCondBroadcast) {
  for (int procs : {1, 2}) {
    run_procs(procs, [] {
      goro::mutex m;
      goro::cond c(m);
      const int n = goro_test::sanitizer_build() ? 40 : 200;
      auto running = goro::make_chan<int>(n);
      auto awake = goro::make_chan<int>(n);
      bool exit = false;  // guarded by m
      goro::wait_group exited;
      for (int i = 0; i < n; ++i)
        exited.go([&, i] {
          m.lock();
          while (!exit) {
            running.send(i);
            c.wait();
            awake.send(i);
          }
          m.unlock();
        });
      for (int round = 0; round < n; ++round) {
        for (int j = 0; j < n; ++j) running.recv();  // deadlocks unless n are running
        if (round == n - 1) {
          m.lock();
          exit = true;
          m.unlock();
        }
        ASSERT_FALSE(awake.try_recv().has_value()) << "goroutine not asleep";
        m.lock();
        c.broadcast();
        m.unlock();
        std::vector<bool> seen(n);
        for (int j = 0; j < n; ++j) {
          int g = *awake.recv();
          ASSERT_FALSE(seen[g]) << "goroutine woke up twice";
          seen[g] = true;
        }
      }
      exited.wait();
      EXPECT_FALSE(running.try_recv().has_value()) << "goroutine did not exit";
      c.broadcast();
    });
  }
}

// A signal or broadcast with no waiter is not remembered.
TEST_F(CondTest, SignalWithoutWaiterIsNotRemembered) {
  run_procs(1, [] {
    goro::mutex m;
    goro::cond c(m);
    c.signal();
    c.broadcast();
    std::atomic<bool> woke{false};
    goro::wait_group wg;
    wg.go([&] {
      std::lock_guard lk(m);
      c.wait();
      woke.store(true);
    });
    for (int i = 0; i < 50; ++i) goro::yield();
    EXPECT_FALSE(woke.load()) << "an earlier signal was remembered";
    c.signal();  // without holding the lock
    wg.wait();
    EXPECT_TRUE(woke.load());
  });
}

// The predicate form, with waiters on plain threads and goroutines, notified
// from both.
TEST_F(CondTest, PlainThreadsAndGoroutines) {
  goro::mutex m;
  goro::cond c(m);
  int stage = 0;  // guarded by m
  int old = goro::set_max_procs(2);
  goro::wait_group wg;
  std::atomic<int> passed{0};
  for (int i = 0; i < 3; ++i)
    wg.go([&] {
      std::lock_guard lk(m);
      c.wait([&] { return stage >= 1; });
      passed.fetch_add(1);
    });
  std::thread waiter([&] {
    std::lock_guard lk(m);
    c.wait([&] { return stage >= 2; });
    passed.fetch_add(10);
  });
  {
    std::lock_guard lk(m);
    stage = 1;
  }
  c.broadcast();  // from a plain thread
  wg.wait();
  EXPECT_EQ(passed.load(), 3);
  goro::wait_group notifier;
  notifier.go([&] {
    std::lock_guard lk(m);
    stage = 2;
    c.signal();  // from a goroutine, lock held
  });
  notifier.wait();
  waiter.join();
  EXPECT_EQ(passed.load(), 13);
  goro::set_max_procs(old);
}

TEST_F(CondTest, WaitWithoutLockPanics) {
  goro::mutex m;
  goro::cond c(m);
  EXPECT_THROW(c.wait(), goro::panic_error);
}

// =============================================================================
// once

// Go's TestOnce.
TEST_F(OnceTest, GoTestOnce) {
  for (int procs : {1, 2}) {
    run_procs(procs, [] {
      int o = 0;
      goro::once once;
      auto c = goro::make_chan<bool>();
      const int n = 10;
      std::atomic<int> inside_bad{0};
      for (int i = 0; i < n; ++i)
        goro::go([&] {
          once.call([&] { ++o; });
          if (o != 1) inside_bad.fetch_add(1);  // f's effect is visible to every caller
          c.send(true);
        });
      for (int i = 0; i < n; ++i) c.recv();
      EXPECT_EQ(o, 1) << "once failed outside run";
      EXPECT_EQ(inside_bad.load(), 0) << "once failed inside run";
    });
  }
}

// Go's TestOncePanic: the exception reaches the first caller; the once counts
// as done.
TEST_F(OnceTest, GoTestOncePanic) {
  goro::once once;
  EXPECT_THROW(once.call([] { throw std::runtime_error("failed"); }), std::runtime_error);
  EXPECT_TRUE(once.done());
  bool called = false;
  once.call([&] { called = true; });
  EXPECT_FALSE(called) << "once.call ran twice";
}

// Counts calls, not distinct callables (the seed's example).
TEST_F(OnceTest, CountsCallsNotCallables) {
  int count = 0;
  goro::once once;
  once.call([&] { ++count; });
  once.call([&] { --count; });
  EXPECT_EQ(count, 1);
}

// Concurrent callers wait, parked, for the first to finish: with one P a
// spinning waiter would never let the first caller's f complete.
TEST_F(OnceTest, ConcurrentCallersParkUntilFirstFinishes) {
  run_procs(1, [] {
    goro::once once;
    auto release = goro::make_chan<bool>();
    std::atomic<int> returned{0};
    std::atomic<int> ran{0};
    goro::wait_group wg;
    for (int i = 0; i < 5; ++i)
      wg.go([&] {
        once.call([&] {
          ran.fetch_add(1);
          release.recv();  // block inside f
        });
        returned.fetch_add(1);
      });
    for (int i = 0; i < 50; ++i) goro::yield();
    EXPECT_EQ(returned.load(), 0) << "a call() returned before f finished";
    release.send(true);
    wg.wait();
    EXPECT_EQ(returned.load(), 5);
    EXPECT_EQ(ran.load(), 1);
  });
}

TEST_F(OnceTest, PlainThreadsAndGoroutines) {
  goro::once once;
  std::atomic<int> ran{0};
  int value = 0;
  std::atomic<int> bad{0};
  auto use = [&] {
    once.call([&] {
      std::this_thread::sleep_for(2ms);
      value = 42;
      ran.fetch_add(1);
    });
    if (value != 42) bad.fetch_add(1);
  };
  int old = goro::set_max_procs(2);
  goro::wait_group wg;
  for (int i = 0; i < 8; ++i) wg.go(use);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) threads.emplace_back(use);
  for (auto& t : threads) t.join();
  wg.wait();
  goro::set_max_procs(old);
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(bad.load(), 0);
}

// =============================================================================
// pool

// Stops the background cleanup for a test that ages objects by hand.
struct pause_background_cleanup {
  pause_background_cleanup() { goro::detail::pool_pause_background_cleanup(true); }
  ~pause_background_cleanup() { goro::detail::pool_pause_background_cleanup(false); }
};

// Counts live objects; flags an object handed to two users at once.
struct tracked {
  static inline std::atomic<long> live{0};
  explicit tracked(int v = 0) : value(v) { live.fetch_add(1); }
  ~tracked() { live.fetch_sub(1); }
  int value;
  std::atomic<int> in_use{0};
};

// Go's TestPool. Inside one goroutine, which cannot change P between calls
// that do not block (Go pins the P with procPin).
TEST_F(PoolTest, GoTestPool) {
  pause_background_cleanup pause;
  run_procs(2, [] {
    goro::pool<std::string> p;
    EXPECT_EQ(p.get(), nullptr) << "expected empty";
    p.put(std::make_unique<std::string>("a"));
    p.put(std::make_unique<std::string>("b"));
    auto g = p.get();
    ASSERT_TRUE(g);
    EXPECT_EQ(*g, "a");
    g = p.get();
    ASSERT_TRUE(g);
    EXPECT_EQ(*g, "b");
    EXPECT_EQ(p.get(), nullptr);

    // Enough objects to spill into the stealable queue.
    for (int i = 0; i < 100; ++i) p.put(std::make_unique<std::string>("c"));
    // After one cleanup the victim cache keeps them alive...
    goro::pool_cleanup();
    g = p.get();
    ASSERT_TRUE(g) << "want c after one cleanup";
    EXPECT_EQ(*g, "c");
    // ...and a second one drops them.
    goro::pool_cleanup();
    EXPECT_EQ(p.get(), nullptr) << "want nothing after the second cleanup";
  });
}

// Go's TestPoolNew.
TEST_F(PoolTest, GoTestPoolNew) {
  pause_background_cleanup pause;
  run_procs(2, [] {
    int i = 0;
    goro::pool<int> p([&] { return std::make_unique<int>(++i); });
    EXPECT_EQ(*p.get(), 1);
    EXPECT_EQ(*p.get(), 2);
    p.put(std::make_unique<int>(42));
    EXPECT_EQ(*p.get(), 42);
    EXPECT_EQ(*p.get(), 3);
  });
}

TEST_F(PoolTest, PutNullIsANoOp) {
  goro::pool<int> p;
  p.put(nullptr);
  EXPECT_EQ(p.get(), nullptr);
}

// Objects unused across two cleanups are destroyed; the pool's destructor
// destroys the rest.
TEST_F(PoolTest, VictimCacheAgesObjectsOut) {
  pause_background_cleanup pause;
  const long base = tracked::live.load();
  {
    goro::pool<tracked> p;
    run_procs(2, [&] {
      for (int i = 0; i < 50; ++i) p.put(std::make_unique<tracked>(i));
    });
    for (int i = 0; i < 5; ++i) p.put(std::make_unique<tracked>(100 + i));  // plain thread
    EXPECT_EQ(tracked::live.load() - base, 55);
    goro::pool_cleanup();  // all move to the victim cache
    EXPECT_EQ(tracked::live.load() - base, 55);
    auto kept = p.get();  // taken from the victim
    ASSERT_TRUE(kept);
    p.put(std::move(kept));  // back into the primary cache: survives the next cleanup
    goro::pool_cleanup();
    EXPECT_EQ(tracked::live.load() - base, 1);
    auto again = p.get();
    ASSERT_TRUE(again);
    goro::pool_cleanup();
    goro::pool_cleanup();
    EXPECT_EQ(p.get(), nullptr);
    p.put(std::move(again));
    p.put(std::make_unique<tracked>());
  }
  EXPECT_EQ(tracked::live.load(), base) << "the pool's destructor leaked objects";
}

// Go's TestPoolStress, with every object checked for being handed to two
// goroutines at once, and counted for leaks.
void pool_stress(int procs) {
  const long base = tracked::live.load();
  {
    goro::pool<tracked> p;
    std::atomic<int> bad{0};
    run_procs(procs, [&] {
      const int n = scaled(20000);
      goro::wait_group wg;
      for (int g = 0; g < 10; ++g)
        wg.go([&] {
          std::unique_ptr<tracked> v = std::make_unique<tracked>();
          for (int j = 0; j < n; ++j) {
            if (!v) v = std::make_unique<tracked>();
            p.put(std::move(v));
            v = p.get();
            if (v) {
              if (v->value != 0 || v->in_use.exchange(1) != 0) bad.fetch_add(1);
              if (j % 16 == 0) goro::yield();  // hold it across a switch
              v->in_use.store(0);
            }
          }
        });
      wg.wait();
    });
    EXPECT_EQ(bad.load(), 0);
  }
  EXPECT_EQ(tracked::live.load(), base);
}

TEST_F(PoolTest, GoTestPoolStressOneProc) { pool_stress(1); }
TEST_F(PoolTest, GoTestPoolStressFourProcs) { pool_stress(4); }

// Objects put on one P are stolen by goroutines on others, and by plain
// threads, while cleanups run concurrently: nothing is handed out twice,
// lost track of, or freed twice.
TEST_F(PoolTest, StealingAndConcurrentCleanup) {
  const long base = tracked::live.load();
  {
    goro::pool<tracked> p;
    std::atomic<int> bad{0};
    std::atomic<bool> stop{false};
    std::thread cleaner([&] {
      while (!stop.load()) {
        goro::pool_cleanup();
        std::this_thread::sleep_for(200us);
      }
    });
    auto user = [&](int n) {
      std::vector<std::unique_ptr<tracked>> held;
      for (int j = 0; j < n; ++j) {
        if (j % 3 == 0 || held.empty()) {
          auto v = p.get();
          if (!v) v = std::make_unique<tracked>();
          if (v->in_use.exchange(1) != 0) bad.fetch_add(1);
          held.push_back(std::move(v));
        }
        if (held.size() > 8 || j % 5 == 0) {
          // Give back a batch: it spills into this P's shared queue.
          for (auto& v : held) {
            v->in_use.store(0);
            p.put(std::move(v));
          }
          held.clear();
        }
      }
      for (auto& v : held) v->in_use.store(0);
    };
    int old = goro::set_max_procs(4);
    goro::wait_group wg;
    for (int g = 0; g < 8; ++g) wg.go([&] { user(scaled(20000)); });
    std::thread t([&] { user(scaled(20000)); });
    t.join();
    wg.wait();
    goro::set_max_procs(old);
    stop.store(true);
    cleaner.join();
    EXPECT_EQ(bad.load(), 0);
  }
  EXPECT_EQ(tracked::live.load(), base);
}

TEST_F(PoolTest, PlainThreadsAndGoroutinesShareObjects) {
  pause_background_cleanup pause;
  goro::pool<int> p;
  // A plain thread's object reaches a goroutine...
  p.put(std::make_unique<int>(1));
  run_procs(2, [&] {
    auto v = p.get();
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, 1);
    // ...and a goroutine's, spilled into its P's shared queue, reaches a
    // thread. (The first, 2, stays in the P's private slot, which only that
    // P uses, as in Go.)
    p.put(std::make_unique<int>(2));
    p.put(std::make_unique<int>(3));
    p.put(std::make_unique<int>(4));
  });
  int sum = 0;
  for (int i = 0; i < 2; ++i) {
    auto v = p.get();
    ASSERT_TRUE(v) << "a plain thread could not get a goroutine's object";
    sum += *v;
  }
  EXPECT_EQ(sum, 7);
}

// The private slot is plain loads and stores on its P; cleanup empties the
// slots of the generation it destroys while gets and puts run on every P.
// Counts prove each object is destroyed exactly once and none is handed out
// after its destruction (in_use would then read a freed object: ASan).
TEST_F(PoolTest, PrivateSlotsUnderConcurrentCleanup) {
  const long base = tracked::live.load();
  {
    goro::pool<tracked> p;
    std::atomic<int> bad{0};
    std::atomic<bool> stop{false};
    std::atomic<long> cleanups{0};
    std::thread cleaner([&] {
      while (!stop.load()) {
        goro::pool_cleanup();
        cleanups.fetch_add(1);
      }
    });
    run_procs(2, [&] {
      goro::wait_group wg;
      for (int g = 0; g < 4; ++g)
        wg.go([&] {
          // Until enough cleanups have raced these gets and puts.
          for (int j = 0; j < scaled(200000) && (j < 1000 || cleanups.load() < 200); ++j) {
            auto v = p.get();
            if (!v) v = std::make_unique<tracked>();
            if (v->in_use.exchange(1) != 0) bad.fetch_add(1);
            v->in_use.store(0);
            p.put(std::move(v));
            if (j % 64 == 0) goro::yield();
          }
        });
      wg.wait();
    });
    stop.store(true);
    cleaner.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GE(cleanups.load(), 1);
  }
  EXPECT_EQ(tracked::live.load(), base);
}

// The background cleanup (every 2 s) ages out unused objects by itself.
TEST_F(PoolTest, BackgroundCleanupRuns) {
  const long base = tracked::live.load();
  goro::pool<tracked> p;
  for (int i = 0; i < 10; ++i) p.put(std::make_unique<tracked>());
  EXPECT_EQ(tracked::live.load() - base, 10);
  EXPECT_TRUE(eventually([&] { return tracked::live.load() == base; }, 20s))
      << "objects still alive after two background cleanup periods";
}

}  // namespace
