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

// struct sudog: see runtime.hpp (each G embeds the one its channel operations use).


// FIFO of waiting sudogs. c->lock held for every operation, except that
// maybe_nonempty() may be read without it (select's lock-free "nothing is
// ready" check), hence the relaxed atomic head.
struct waitq {
  std::atomic<sudog*> head{nullptr};
  sudog* last = nullptr;

  sudog* first() const { return head.load(std::memory_order_relaxed); }
  void set_first(sudog* sg) { head.store(sg, std::memory_order_relaxed); }
  bool empty() const { return first() == nullptr; }
  bool maybe_nonempty() const { return head.load(std::memory_order_acquire) != nullptr; }
  void enqueue(sudog* sg) {
    sg->next = nullptr;
    sg->prev = last;
    if (last) last->next = sg;
    else set_first(sg);
    last = sg;
  }
  void push_front(sudog* sg) {
    sudog* f = first();
    sg->prev = nullptr;
    sg->next = f;
    if (f) f->prev = sg;
    else last = sg;
    set_first(sg);
  }
  void remove(sudog* sg) {
    if (sg->prev) sg->prev->next = sg->next;
    else if (first() == sg) set_first(sg->next);
    else return;  // not queued
    if (sg->next) sg->next->prev = sg->prev;
    else last = sg->prev;
    sg->next = sg->prev = nullptr;
  }
  // Pops the first waiter that may still be woken: a select waiter counts
  // only if this wins its select (Go's selectDone CAS); others are dropped.
  sudog* dequeue() {
    for (;;) {
      sudog* sg = first();
      if (!sg) return nullptr;
      sudog* nf = sg->next;
      set_first(nf);
      if (nf) nf->prev = nullptr;
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

  // Lock-free guesses for select's non-blocking fast path (Go's empty/full
  // checks). "false" is a linearizable observation that the operation could
  // not proceed at the moment of the read.
  bool maybe_can_send() const {
    if (closed.load(std::memory_order_acquire)) return true;  // proceeds (to a panic)
    return dataqsiz == 0 ? recvq.maybe_nonempty()
                         : qcount.load(std::memory_order_acquire) < dataqsiz;
  }
  bool maybe_can_recv() const {
    bool empty = dataqsiz == 0 ? !sendq.maybe_nonempty()
                               : qcount.load(std::memory_order_acquire) == 0;
    if (!empty) return true;
    // Observed empty; a close that happened before that observation must be
    // seen now (Go orders the two loads the same way).
    return closed.load(std::memory_order_acquire);
  }
  waitq recvq;                // blocked receivers
  waitq sendq;                // blocked senders

  void* slot(std::size_t i) const { return buf + i * ops->size; }
};

// Moves an element (ops may throw).
inline void elem_move(const elem_ops* ops, void* dst, void* src) {
  if (ops->size == 0) return;
  if (dst == nullptr) return;  // receiver discards
  if (ops->trivial) {
    switch (ops->size) {  // the common sizes without a call to memcpy
      case 1: std::memcpy(dst, src, 1); return;
      case 2: std::memcpy(dst, src, 2); return;
      case 4: std::memcpy(dst, src, 4); return;
      case 8: std::memcpy(dst, src, 8); return;
      case 16: std::memcpy(dst, src, 16); return;
      default: std::memcpy(dst, src, ops->size); return;
    }
  }
  ops->move_construct(dst, src);
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
