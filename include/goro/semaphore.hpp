// goro::semaphore — golang.org/x/sync/semaphore.Weighted (API.md §4).
#pragma once

#include <cstdint>
#include <list>

#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/error.hpp>
#include <goro/sync/mutex.hpp>

namespace goro {

// semaphore
//
// A weighted semaphore bounding concurrent access to a resource of size n:
// callers acquire and release weights; the sum held never exceeds n.
//
// Fairness: strictly FIFO. A waiter that cannot be satisfied blocks every
// waiter behind it, even smaller ones that would fit: a large acquire (a
// "writer" taking all n) is never starved by a stream of small ones. A
// new acquire never overtakes queued waiters.
//
// acquire(ctx, k) blocks (parks the goroutine; blocks a plain thread) until k
// is available and it is at the head of the queue, or until ctx is done. On
// success it returns nil; on ctx's cancellation it returns ctx.err() and
// leaves the semaphore as it was (no weight taken; if its leaving lets the
// waiters behind it proceed, they are woken). If ctx is already done, acquire
// may still succeed without blocking (as Go). k > n can never succeed: it
// waits for ctx without blocking anybody else.
//
// Misuse: release() of more than is held throws goro::panic_error
// ("semaphore: released more than held"), leaving the count unchanged.
// Destroying a semaphore with waiters is undefined.
//
// Memory ordering: a release(k) synchronizes with the acquire it lets
// through (and with any later acquire that takes the weight it returned).
class semaphore {
 public:
  explicit semaphore(std::int64_t n) : size_(n) {}
  semaphore(const semaphore&) = delete;
  semaphore& operator=(const semaphore&) = delete;

  // Acquires weight k, blocking until it is available or ctx is done.
  [[nodiscard("returns ctx.err() when it gives up")]] error acquire(context ctx, std::int64_t k = 1);
  // Acquires weight k if it is available now and nobody is queued; never blocks.
  [[nodiscard]] bool try_acquire(std::int64_t k = 1);
  // Returns weight k, waking the waiters at the head of the queue that now fit.
  void release(std::int64_t k = 1);

 private:
  struct waiter {
    std::int64_t n;
    chan<void> ready;  // closed when the weight has been granted
  };
  void notify_waiters();  // mu_ held

  const std::int64_t size_;
  mutex mu_;
  std::int64_t cur_ = 0;        // weight held; guarded by mu_
  std::list<waiter> waiters_;   // FIFO; guarded by mu_
};

}  // namespace goro
