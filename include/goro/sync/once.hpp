// goro::once — Go's sync.Once (API.md §4; the seed's chapter 3 "Once").
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>

#include <goro/sync/mutex.hpp>

namespace goro {

// once
//
// Runs one action exactly once. once counts calls of call(), not distinct
// callables: the first call() runs its f, and every later call() returns
// without running its own f, whichever callable it passes.
//
// Concurrent callers of the first round wait (parked, not spinning) until f
// has returned; so when any call() returns, f has finished. Calling call() on
// the same once from inside f deadlocks.
//
// If f throws, the exception propagates to the caller of that call(), and the
// once counts as done (Go's behaviour after a panic in Do): later calls do not
// retry. Wrap f yourself if you want retry-on-failure.
//
// Memory ordering: the return of f synchronizes with the return of every
// call() on the same once (Go: "the return from f happens before the return
// from any call of once.Do(f)").
class once {
 public:
  constexpr once() noexcept = default;
  once(const once&) = delete;
  once& operator=(const once&) = delete;

  template <class F>
  void call(F&& f) {
    if (done_.load(std::memory_order_acquire) != 0) return;  // the fast path
    call_slow(std::forward<F>(f));
  }

  // Whether the first call() has finished (f returned or threw).
  [[nodiscard]] bool done() const noexcept { return done_.load(std::memory_order_acquire) != 0; }

 private:
  template <class F>
  void call_slow(F&& f) {
    struct guard {
      once* o;
      bool ran = false;
      ~guard() {
        if (ran) o->done_.store(1, std::memory_order_release);  // even if f threw
        o->m_.unlock();
      }
    };
    m_.lock();
    guard g{this};
    if (done_.load(std::memory_order_relaxed) == 0) {
      g.ran = true;
      std::invoke(std::forward<F>(f));
    }
  }

  // 1 once f has run. Written only with m_ held.
  std::atomic<std::uint32_t> done_{0};
  mutex m_;  // serializes the first round; later callers park on it
};

}  // namespace goro
