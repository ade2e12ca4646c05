// Channel internals (Go's hchan and sudog). See chan.cpp for the operations.
//
// Invariants (c->lock held):
//  * At least one of c->sendq and c->recvq is empty, except for an unbuffered
//    channel with a single goroutine blocked on both send and receive in one
//    select, in which case the length of sendq and recvq is limited only by
//    the number of select cases.
//  * For a buffered channel: qcount > 0 implies recvq is empty;
//    qcount < dataqsiz implies sendq is empty.
//  * A closed channel never gains waiters; close empties both queues.
#pragma once

#include <exception>
#include <vector>
#include <goro/detail/chan_core.hpp>

#include "lock.hpp"
#include "runtime.hpp"

namespace goro::detail {

// A goroutine (or plain thread) waiting on one channel. Lives on the waiter's
// stack for the duration of its park. Fields marked "c->lock" are guarded by
// the lock of the channel whose queue holds the sudog.
struct sudog {
  G* g = nullptr;
  sudog* next = nullptr;  // c->lock
  sudog* prev = nullptr;  // c->lock
  hchan* c = nullptr;
  // send: the value to move from; recv: storage to move into (null: discard,
  // unused for chan<void>).
  void* elem = nullptr;
  bool is_select = false;
  bool is_send = false;
  // Set by the waker before ready(g): true if a value was exchanged, false if
  // the channel was closed.
  bool success = false;
  int case_index = 0;  // select: which case this is
  // Set by a receiver whose move from this sender's value threw: the send
  // fails with that exception.
  std::exception_ptr exc;
};

// FIFO of waiting sudogs. c->lock held for every operation.
struct waitq {
  sudog* first = nullptr;
  sudog* last = nullptr;

  bool empty() const { return first == nullptr; }
  void enqueue(sudog* sg) {
    sg->next = nullptr;
    sg->prev = last;
    if (last) last->next = sg;
    else first = sg;
    last = sg;
  }
  void push_front(sudog* sg) {
    sg->prev = nullptr;
    sg->next = first;
    if (first) first->prev = sg;
    else last = sg;
    first = sg;
  }
  void remove(sudog* sg) {
    if (sg->prev) sg->prev->next = sg->next;
    else if (first == sg) first = sg->next;
    else return;  // not queued
    if (sg->next) sg->next->prev = sg->prev;
    else last = sg->prev;
    sg->next = sg->prev = nullptr;
  }
  // Pops the first waiter that may still be woken: a select waiter counts
  // only if this wins its select (Go's selectDone CAS); others are dropped.
  sudog* dequeue() {
    for (;;) {
      sudog* sg = first;
      if (!sg) return nullptr;
      first = sg->next;
      if (first) first->prev = nullptr;
      else last = nullptr;
      sg->next = sg->prev = nullptr;
      if (sg->is_select) {
        std::uint32_t zero = 0;
        if (!sg->g->select_done.compare_exchange_strong(zero, 1, std::memory_order_acq_rel))
          continue;  // its select already fired elsewhere
      }
      return sg;
    }
  }
};

struct hchan : hchan_ref {
  lock_t lock;                // guards every field below except ops, dataqsiz, buf
  const elem_ops* ops;        // immutable
  std::size_t dataqsiz;       // immutable: buffer capacity
  char* buf;                  // immutable pointer; slots guarded by lock
  std::atomic<std::size_t> qcount{0};  // lock for writes; read racily by len()
  std::size_t sendx = 0;      // next slot to fill
  std::size_t recvx = 0;      // next slot to drain
  std::atomic<bool> closed{false};  // lock for writes; read racily by fast paths
  waitq recvq;                // blocked receivers
  waitq sendq;                // blocked senders

  void* slot(std::size_t i) const { return buf + i * ops->size; }
};

// Moves an element (ops may throw).
inline void elem_move(const elem_ops* ops, void* dst, void* src) {
  if (ops->size == 0) return;
  if (dst == nullptr) return;  // receiver discards
  if (ops->trivial) std::memcpy(dst, src, ops->size);
  else ops->move_construct(dst, src);
}
inline void elem_destroy(const elem_ops* ops, void* p) {
  if (ops->size != 0 && !ops->trivial) ops->destroy(p);
}

// ---- operations on a locked channel, shared by chan.cpp and select.cpp --------
// Each returns with c still locked; woken peers are appended to `wake`
// (ready them after unlocking). On exception c is still locked and consistent.

// Gs to ready once the channel locks are released. Usually one or two.
struct wake_list {
  G* inline_gs[4];
  int n = 0;
  std::vector<G*> more;
  void add(G* g) {
    if (n < 4) inline_gs[n++] = g;
    else more.push_back(g);
  }
  void ready_all() {
    for (int i = 0; i < n; ++i) ready(inline_gs[i]);
    for (G* g : more) ready(g);
    n = 0;
    more.clear();
  }
};

// Sends *elem to the first waiting receiver, if any. true if done.
bool send_to_waiter(hchan* c, void* elem, wake_list& wake);
// Puts *elem in the buffer if it has room. true if done.
bool send_to_buffer(hchan* c, void* elem);
// Receives from a waiting sender (unbuffered) or the buffer (refilling it from
// waiting senders). 1 received, 0 closed and drained, -1 nothing there.
int recv_locked(hchan* c, void* out, wake_list& wake);

}  // namespace goro::detail
