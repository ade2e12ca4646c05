// Helpers shared by goro's tests. Header-only, no goro internals.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace goro_test {

// True in the ASan/TSan builds: CMake defines GORO_ASAN / GORO_TSAN when compiling
// them, and ctest sets GORO_SANITIZER_BUILD=1 when running them.
inline bool sanitizer_build() {
#if defined(GORO_ASAN) || defined(GORO_TSAN)
  return true;
#else
  const char* e = std::getenv("GORO_SANITIZER_BUILD");
  return e != nullptr && *e != '\0' && std::string_view(e) != "0";
#endif
}

// Iteration count for a stress loop: n in a normal build, n/10 (at least 1) under
// a sanitizer, which runs 5-15x slower.
inline int scaled(int n) { return sanitizer_build() ? std::max(1, n / 10) : n; }

// How many goroutines a test may keep alive at once: TSan counts every
// goroutine's fiber as a thread and dies past 8128 of them.
inline int max_live(int n) {
#if defined(GORO_TSAN)
  return std::min(n, 4000);
#else
  return n;
#endif
}

// Sleeps the calling OS thread briefly, so that a goroutine or thread that has
// announced it is about to block has time to park. Call it from plain threads
// only (the gtest thread), never inside a goroutine. Tests use it only to check
// that something "has not happened yet", never that it happened in time.
inline void settle(std::chrono::milliseconds d = std::chrono::milliseconds(20)) {
  std::this_thread::sleep_for(sanitizer_build() ? 2 * d : d);
}

// Polls pred every millisecond until it holds or `limit` has passed; returns
// its last value. For use on plain threads only.
template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Aborts the process if a test runs past its limit, naming the test: a hang
// becomes a clear failure (with ctest's output) instead of a silent timeout.
class watchdog {
 public:
  explicit watchdog(std::chrono::seconds limit = std::chrono::seconds(120)) {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    name_ = info ? std::string(info->test_suite_name()) + "." + info->name() : "?";
    thread_ = std::thread([this, limit] {
      std::unique_lock lk(m_);
      if (!cv_.wait_for(lk, limit, [this] { return done_; })) {
        std::fprintf(stderr, "watchdog: %s still running after %lld s: aborting\n",
                     name_.c_str(), static_cast<long long>(limit.count()));
        std::abort();
      }
    });
  }
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;
  ~watchdog() {
    {
      std::lock_guard lk(m_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::string name_;
  std::mutex m_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace goro_test
