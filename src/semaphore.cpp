// goro::semaphore (include/goro/semaphore.hpp), after x/sync/semaphore.
//
// Invariants (under mu_): 0 <= cur_ <= size_; every queued waiter's weight
// is <= size_; the head waiter does not fit (size_ - cur_ < head.n) whenever
// mu_ is released — notify_waiters restores this after every change.
// A waiter is granted by being removed from the queue, its weight added to
// cur_ and its `ready` channel closed, all under mu_; so a waiter that gives
// up (ctx done) checks `ready` under mu_ to learn whether it won after all.
#include <goro/select.hpp>
#include <goro/semaphore.hpp>

#include <mutex>

namespace goro {

error semaphore::acquire(context ctx, std::int64_t k) {
  std::unique_lock lk(mu_);
  if (size_ - cur_ >= k && waiters_.empty()) {
    cur_ += k;
    return {};
  }
  if (k > size_) {
    // Would wait forever: don't make later acquires queue behind it.
    lk.unlock();
    recv_chan<void> d = ctx.done();
    d.recv();  // nil for a context that is never cancelled: blocks forever, as Go
    return ctx.err();
  }
  chan<void> ready = make_chan<void>();
  auto it = waiters_.insert(waiters_.end(), waiter{k, ready});
  lk.unlock();

  recv_chan<void> d = ctx.done();
  if (!d) {  // cannot be cancelled: just wait for the grant
    ready.recv();
    return {};
  }
  bool granted = false;
  goro::select(goro::recv(ready, [&](bool) { granted = true; }), goro::recv(d));
  if (granted) return {};

  error err = ctx.err();
  lk.lock();
  if (ready.try_recv() == 0) return {};  // granted after we gave up: keep it, as Go
  bool front = it == waiters_.begin();
  waiters_.erase(it);
  // Leaving the head may let the waiters behind us through.
  if (front && size_ > cur_) notify_waiters();
  return err;
}

bool semaphore::try_acquire(std::int64_t k) {
  std::lock_guard lk(mu_);
  bool ok = size_ - cur_ >= k && waiters_.empty();
  if (ok) cur_ += k;
  return ok;
}

void semaphore::release(std::int64_t k) {
  std::unique_lock lk(mu_);
  if (cur_ - k < 0) {
    // Go leaves the count corrupted; leaving it unchanged is kinder.
    lk.unlock();
    throw panic_error("semaphore: released more than held");
  }
  cur_ -= k;
  notify_waiters();
}

void semaphore::notify_waiters() {
  while (!waiters_.empty()) {
    waiter& w = waiters_.front();
    // FIFO: a head that does not fit blocks everybody behind it (else a large
    // acquire could starve behind a stream of small ones).
    if (size_ - cur_ < w.n) break;
    cur_ += w.n;
    w.ready.close();
    waiters_.pop_front();
  }
}

}  // namespace goro
