// goro::pool — Go's sync.Pool (API.md §4; the seed's chapter 3 "Pool").
#pragma once

#include <functional>
#include <memory>
#include <utility>

namespace goro {

namespace detail {

// The type-erased pool behind pool<T> (src/pool.cpp). Holds void* objects
// and destroys leftovers with destroy().
class pool_base {
 public:
  explicit pool_base(void (*destroy)(void*));
  ~pool_base();
  pool_base(const pool_base&) = delete;
  pool_base& operator=(const pool_base&) = delete;

  void* get() noexcept;       // a cached object, or null
  void put(void* x) noexcept; // x non-null; destroyed if it cannot be kept

  struct impl;

 private:
  impl* impl_;
};

}  // namespace detail

// pool<T>
//
// A cache of allocated but unused objects for later reuse, relieving the
// allocator: use it for objects that are created and dropped at a high rate
// by many goroutines (buffers, scratch state), or to warm a cache of objects
// that are expensive to build (the seed's "warming a cache" example). All
// objects in a pool should be interchangeable: get() returns any of them.
//
// get() returns an object previously put(), or, if there is none, the result
// of new_fn (or null if new_fn is empty). Do not assume any relation between
// what put() stored and what get() returns: any object in the pool may be
// dropped at any time. put(nullptr) is a no-op.
//
// Structure (Go's): each processor (P) has a private slot and a lock-free
// queue; get() and put() on a goroutine touch only its P's slot and queue
// (no lock, no atomic read-modify-write in the common case) and, when that is
// empty, steal from other Ps' queues (never from their private slots). Plain threads, which have no P, share one locked list (and may
// steal from the Ps' queues too). Never blocks.
//
// Aging: goro::pool_cleanup() moves every pool's objects to a victim cache and
// destroys what was already there; get() looks in the victim cache after the
// primary one. So an object unused across two cleanups is destroyed. Cleanup
// runs every 2 seconds on a background thread started with the first pool,
// and whenever pool_cleanup() is called. (The period comes from a detached
// std::thread sleeping between runs, not from a goroutine: a program whose
// goroutines are all blocked is still reported as deadlocked.)
// Dropped objects are destroyed on that thread, or on the caller of
// pool_cleanup(); remaining ones when the pool is destroyed.
//
// Misuse: destroying a pool while another goroutine uses it is undefined.
//
// Memory ordering: a put(x) synchronizes with the get() that returns x, and a
// new_fn call that returns x synchronizes with that get()'s return.
template <class T>
class pool {
 public:
  explicit pool(std::function<std::unique_ptr<T>()> new_fn = nullptr)
      : new_fn_(std::move(new_fn)), base_(&destroy) {}

  std::unique_ptr<T> get() {
    if (void* x = base_.get()) return std::unique_ptr<T>(static_cast<T*>(x));
    if (new_fn_) return new_fn_();
    return nullptr;
  }

  void put(std::unique_ptr<T> x) noexcept {
    if (x) base_.put(x.release());
  }

 private:
  static void destroy(void* x) { delete static_cast<T*>(x); }

  std::function<std::unique_ptr<T>()> new_fn_;
  detail::pool_base base_;
};

// Runs one cleanup cycle over every live pool now (see pool<T>). Safe to call
// from any goroutine or thread at any time.
void pool_cleanup();

}  // namespace goro
