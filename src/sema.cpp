// The runtime semaphore: semacquire / semrelease (Go's runtime/sema.go).
//
// Table: sema_table_size buckets, chosen by address. A bucket keeps a list of
// "head" waiters, one per distinct address that has waiters; each head carries
// the FIFO of the other waiters on its address (Go keeps the heads in a treap;
// a list is enough while few distinct addresses share a bucket).
//
// Protocol (no lost wake-ups): a waiter increments its bucket's nwait, then
// re-checks the count, both under the bucket lock; a releaser increments the
// count, then reads nwait (all seq_cst). Either the waiter sees the count, or
// the releaser sees the waiter and takes the lock, by which time the waiter is
// queued. A releaser that dequeues a waiter decrements nwait for it.
#include "sema.hpp"

#include <goro/runtime.hpp>

#include "export_test.hpp"
#include "lock.hpp"

namespace goro::detail {

namespace {

// One blocked semacquire, on its caller's stack while it waits.
struct sema_waiter {
  G* g = nullptr;
  const void* addr = nullptr;
  // All links are guarded by the bucket lock.
  sema_waiter* next = nullptr;      // heads only: next head in the bucket
  sema_waiter* waitlink = nullptr;  // next waiter on the same address
  sema_waiter* waittail = nullptr;  // heads only: last waiter on the address (itself if alone)
  // Written by the releaser before ready(g): the count was handed to us.
  bool ticket = false;
};

struct sema_root {  // no cache-line padding: 65521 of them
  lock_t lock;
  sema_waiter* heads = nullptr;  // lock
  // Waiters queued or about to queue here; incremented under lock, decremented
  // under lock by whoever dequeues. Read without the lock as a fast-path hint.
  std::atomic<std::uint32_t> nwait{0};

  // Appends w to addr's queue (at its front if lifo). lock held.
  void queue(const void* addr, sema_waiter* w, bool lifo) {
    w->addr = addr;
    w->next = nullptr;
    w->waitlink = nullptr;
    w->waittail = w;
    w->ticket = false;
    sema_waiter** pp = &heads;
    while (*pp != nullptr && (*pp)->addr != addr) pp = &(*pp)->next;
    sema_waiter* t = *pp;
    if (t == nullptr) {
      *pp = w;
      return;
    }
    if (lifo) {
      // w replaces t as head; t and its queue follow w.
      w->next = t->next;
      w->waitlink = t;
      w->waittail = t->waittail;
      t->next = nullptr;
      t->waittail = nullptr;
      *pp = w;
    } else {
      t->waittail->waitlink = w;
      t->waittail = w;
    }
  }

  // Removes and returns the first waiter on addr, or null. lock held.
  sema_waiter* dequeue(const void* addr) {
    sema_waiter** pp = &heads;
    while (*pp != nullptr && (*pp)->addr != addr) pp = &(*pp)->next;
    sema_waiter* w = *pp;
    if (w == nullptr) return nullptr;
    if (sema_waiter* t = w->waitlink) {
      t->next = w->next;
      t->waittail = w->waittail;
      *pp = t;
    } else {
      *pp = w->next;
    }
    w->next = w->waitlink = w->waittail = nullptr;
    return w;
  }
};

// Go uses 251 buckets, each a treap of addresses. goro's buckets keep a plain
// list of addresses, so it uses many more of them: fork-join code parks
// hundreds of thousands of goroutines on distinct wait_groups at once, and a
// 251-bucket list made that quadratic (fib(30): 51 s). 65521 (prime) buckets
// cost ~1.5 MiB and keep lists short; addresses are mixed before the modulo.
constexpr std::size_t sema_table_size = 65521;

sema_root& root_for(const void* addr) {
  static sema_root* table = new sema_root[sema_table_size];  // never destroyed
  std::uintptr_t a = reinterpret_cast<std::uintptr_t>(addr) >> 3;
  a ^= a >> 17;
  a *= 0x9e3779b97f4a7c15ULL;
  return table[(a >> 16) % sema_table_size];
}

bool unlock_root(G*, void* root) {
  static_cast<sema_root*>(root)->lock.unlock();
  return true;
}

}  // namespace

bool semtryacquire(std::atomic<std::uint32_t>* addr) {
  std::uint32_t v = addr->load(std::memory_order_seq_cst);
  while (v != 0) {
    if (addr->compare_exchange_weak(v, v - 1, std::memory_order_seq_cst)) return true;
  }
  return false;
}

bool semacquire(std::atomic<std::uint32_t>* addr, bool lifo, wait_reason why) {
  if (semtryacquire(addr)) return false;
  sema_root& root = root_for(addr);
  sema_waiter w;
  w.g = getg();
  for (;;) {
    root.lock.lock();
    root.nwait.fetch_add(1, std::memory_order_seq_cst);
    if (semtryacquire(addr)) {
      root.nwait.fetch_sub(1, std::memory_order_seq_cst);
      root.lock.unlock();
      return false;
    }
    root.queue(addr, &w, lifo);
    park(&unlock_root, &root, why);
    // The releaser dequeued us (and counted us out of nwait). Someone else
    // may have taken the count it added before we ran: then wait again.
    if (w.ticket) return true;
    if (semtryacquire(addr)) return false;
  }
}

void semrelease(std::atomic<std::uint32_t>* addr, bool handoff) {
  addr->fetch_add(1, std::memory_order_seq_cst);
  sema_root& root = root_for(addr);
  if (root.nwait.load(std::memory_order_seq_cst) == 0) return;
  root.lock.lock();
  if (root.nwait.load(std::memory_order_seq_cst) == 0) {
    root.lock.unlock();
    return;
  }
  sema_waiter* w = root.dequeue(addr);
  if (w != nullptr) root.nwait.fetch_sub(1, std::memory_order_seq_cst);
  root.lock.unlock();
  if (w == nullptr) return;
  // w is parked, so it (and the primitive that owns addr) stays alive until
  // ready(): addr may be touched up to here, w not after.
  bool handed = handoff && semtryacquire(addr);
  w->ticket = handed;
  ready(w->g);
  // Let the new owner run on our P at once (Go's goyield): it is in runnext,
  // and yield puts us at the back of the queue.
  if (handed && in_goroutine()) goro::yield();
}

void semrelease_n(std::atomic<std::uint32_t>* addr, std::uint32_t n) {
  if (n == 0) return;
  addr->fetch_add(n, std::memory_order_seq_cst);
  // From here on *addr may be gone: a waiter that consumed the count without
  // queueing may already have returned and destroyed its primitive.
  sema_root& root = root_for(addr);
  if (root.nwait.load(std::memory_order_seq_cst) == 0) return;
  sema_waiter* list = nullptr;
  sema_waiter** tail = &list;
  root.lock.lock();
  for (std::uint32_t i = 0; i < n; ++i) {
    sema_waiter* w = root.dequeue(addr);
    if (w == nullptr) break;
    root.nwait.fetch_sub(1, std::memory_order_seq_cst);
    *tail = w;
    tail = &w->waitlink;
  }
  root.lock.unlock();
  while (list != nullptr) {
    sema_waiter* w = list;
    list = w->waitlink;  // read before ready: w lives on a stack that may resume
    ready(w->g);
  }
}

int sema_waiters(const std::atomic<std::uint32_t>* addr) {
  sema_root& root = root_for(addr);
  root.lock.lock();
  int n = 0;
  for (sema_waiter* h = root.heads; h != nullptr; h = h->next) {
    if (h->addr != addr) continue;
    for (sema_waiter* w = h; w != nullptr; w = w->waitlink) ++n;
  }
  root.lock.unlock();
  return n;
}

}  // namespace goro::detail
