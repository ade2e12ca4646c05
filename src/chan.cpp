// Channel operations (Go's chan.go), on the type-erased hchan.
//
// Every blocking path enqueues a sudog on the channel under c->lock and parks
// with an unlockf that releases c->lock once the goroutine is off its stack:
// whoever dequeues the sudog may ready the goroutine at once.
//
// Moving an element may throw (a user type's move constructor). Each move
// happens before the operation commits, so a throw leaves the channel as it
// was. An exception from moving a *waiting sender's* value is handed to that
// sender (its send throws it) and the receiver carries on with the next
// sender; an exception from moving into a waiting receiver's storage reaches
// the sender, and the receiver stays first in line.
#include <goro/panic.hpp>
#include <memory>
#include <utility>

#include "chan.hpp"

namespace goro::detail {

namespace {

bool unlock_chan(G*, void* c) {
  static_cast<hchan*>(c)->lock.unlock();
  return true;
}

[[noreturn]] void block_forever_on_nil(wait_reason why) {
  for (;;) park(nullptr, nullptr, why);  // nothing will ever ready us
}

void wake_waiter(sudog* sg, bool success, wake_list& wake) {
  sg->success = success;
  if (sg->is_select) sg->g->param = sg;
  wake.add(sg->g);
}

}  // namespace

hchan* chan_make(const elem_ops* ops, std::size_t capacity) {
  if (ops->size != 0 && capacity > (std::size_t{1} << 40) / ops->size)
    throw panic_error("makechan: size out of range");
  std::size_t align = std::max<std::size_t>(ops->align, alignof(hchan));
  std::size_t header = (sizeof(hchan) + align - 1) / align * align;
  std::size_t bytes = header + capacity * ops->size;
  void* mem = ::operator new(bytes, std::align_val_t{align});
  auto* c = ::new (mem) hchan;
  c->ops = ops;
  c->dataqsiz = capacity;
  c->buf = static_cast<char*>(mem) + header;
  return c;
}

void chan_destroy(hchan* c) noexcept {
  std::size_t n = c->qcount.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) elem_destroy(c->ops, c->slot((c->recvx + i) % c->dataqsiz));
  std::size_t align = std::max<std::size_t>(c->ops->align, alignof(hchan));
  c->~hchan();
  ::operator delete(static_cast<void*>(c), std::align_val_t{align});
}

bool send_to_waiter(hchan* c, void* elem, wake_list& wake) {
  sudog* sg = c->recvq.dequeue();
  if (sg == nullptr) return false;
  try {
    elem_move(c->ops, sg->elem, elem);
  } catch (...) {
    // The receiver keeps its place; a select receiver is un-claimed.
    if (sg->is_select) sg->g->select_done.store(0, std::memory_order_release);
    c->recvq.push_front(sg);
    throw;
  }
  wake_waiter(sg, true, wake);
  return true;
}

bool send_to_buffer(hchan* c, void* elem) {
  std::size_t q = c->qcount.load(std::memory_order_relaxed);
  if (q >= c->dataqsiz) return false;
  elem_move(c->ops, c->slot(c->sendx), elem);
  if (++c->sendx == c->dataqsiz) c->sendx = 0;
  c->qcount.store(q + 1, std::memory_order_relaxed);
  return true;
}

int recv_locked(hchan* c, void* out, wake_list& wake) {
  if (c->dataqsiz == 0) {
    // Unbuffered: take the value straight from the first waiting sender.
    while (sudog* sg = c->sendq.dequeue()) {
      try {
        elem_move(c->ops, out, sg->elem);
      } catch (...) {
        sg->exc = std::current_exception();
        wake_waiter(sg, false, wake);
        continue;
      }
      wake_waiter(sg, true, wake);
      return 1;
    }
  } else if (std::size_t q = c->qcount.load(std::memory_order_relaxed); q > 0) {
    void* head = c->slot(c->recvx);
    elem_move(c->ops, out, head);  // a throw leaves the value in the buffer
    elem_destroy(c->ops, head);
    if (++c->recvx == c->dataqsiz) c->recvx = 0;
    c->qcount.store(q - 1, std::memory_order_relaxed);
    // A slot is free: the longest-waiting sender's value goes to the tail
    // (Go's recv on a full buffer), keeping FIFO order overall.
    while (c->qcount.load(std::memory_order_relaxed) < c->dataqsiz) {
      sudog* sg = c->sendq.dequeue();
      if (sg == nullptr) break;
      try {
        send_to_buffer(c, sg->elem);
      } catch (...) {
        sg->exc = std::current_exception();
        wake_waiter(sg, false, wake);
        continue;
      }
      wake_waiter(sg, true, wake);
    }
    return 1;
  }
  if (c->closed.load(std::memory_order_relaxed)) return 0;
  return -1;
}

void chan_send(hchan* c, void* elem) {
  if (c == nullptr) block_forever_on_nil(wait_reason::chan_send_nil);
  c->lock.lock();
  if (c->closed.load(std::memory_order_relaxed)) {
    c->lock.unlock();
    throw panic_error("send on closed channel");
  }
  wake_list wake;
  bool done;
  try {
    done = send_to_waiter(c, elem, wake) || send_to_buffer(c, elem);
  } catch (...) {
    c->lock.unlock();
    throw;
  }
  if (done) {
    c->lock.unlock();
    wake.ready_all();
    return;
  }
  G* gp = getg();
  sudog& sg = gp->sg;
  sg = sudog{};
  sg.g = gp;
  sg.c = c;
  sg.elem = elem;
  sg.is_send = true;
  c->sendq.enqueue(&sg);
  park(&unlock_chan, c, wait_reason::chan_send);
  // Take the exception out of the G's sudog: left there, a dead G waiting
  // for reuse would keep it alive.
  if (sg.exc) std::rethrow_exception(std::exchange(sg.exc, nullptr));
  if (!sg.success) throw panic_error("send on closed channel");
}

bool chan_try_send(hchan* c, void* elem) {
  if (c == nullptr || !c->maybe_can_send()) return false;
  c->lock.lock();
  if (c->closed.load(std::memory_order_relaxed)) {
    c->lock.unlock();
    throw panic_error("send on closed channel");
  }
  wake_list wake;
  bool done;
  try {
    done = send_to_waiter(c, elem, wake) || send_to_buffer(c, elem);
  } catch (...) {
    c->lock.unlock();
    throw;
  }
  c->lock.unlock();
  wake.ready_all();
  return done;
}

bool chan_recv(hchan* c, void* out) {
  if (c == nullptr) block_forever_on_nil(wait_reason::chan_receive_nil);
  c->lock.lock();
  wake_list wake;
  int r;
  try {
    r = recv_locked(c, out, wake);
  } catch (...) {
    c->lock.unlock();
    wake.ready_all();
    throw;
  }
  if (r >= 0) {
    c->lock.unlock();
    wake.ready_all();
    return r == 1;
  }
  G* gp = getg();
  sudog& sg = gp->sg;
  sg = sudog{};
  sg.g = gp;
  sg.c = c;
  sg.elem = out;
  c->recvq.enqueue(&sg);
  if (wake.n == 0) {
    park(&unlock_chan, c, wait_reason::chan_receive);
  } else {
    // Senders rejected for a throwing move are readied once we are parked.
    struct args {
      hchan* c;
      wake_list* wake;
    } a{c, &wake};
    park(
        [](G*, void* p) {
          auto* a = static_cast<args*>(p);
          a->wake->ready_all();  // before the unlock: after it we may run again
          a->c->lock.unlock();
          return true;
        },
        &a, wait_reason::chan_receive);
  }
  return sg.success;
}

int chan_try_recv(hchan* c, void* out) {
  if (c == nullptr || !c->maybe_can_recv()) return -1;
  c->lock.lock();
  wake_list wake;
  int r;
  try {
    r = recv_locked(c, out, wake);
  } catch (...) {
    c->lock.unlock();
    wake.ready_all();
    throw;
  }
  c->lock.unlock();
  wake.ready_all();
  return r;
}

void chan_close(hchan* c) {
  if (c == nullptr) throw panic_error("close of nil channel");
  c->lock.lock();
  if (c->closed.load(std::memory_order_relaxed)) {
    c->lock.unlock();
    throw panic_error("close of closed channel");
  }
  c->closed.store(true, std::memory_order_relaxed);
  // Collect every waiter (receivers get nothing, senders will panic), then
  // ready them without the lock held.
  // One pass: each sudog is touched once (a waiter's sudog is a cache and,
  // for a select's, a TLB miss). sg dies with its owner's wait, so nothing
  // is read from it once the Gs are readied.
  std::vector<G*> gs;
  for (waitq* q : {&c->recvq, &c->sendq}) {
    while (sudog* sg = q->dequeue()) {
      sg->success = false;
      if (sg->is_select) sg->g->param = sg;
      gs.push_back(sg->g);
    }
  }
  c->lock.unlock();
  ready_many(gs.data(), gs.size());
}

std::size_t chan_len(const hchan* c) noexcept {
  return c ? c->qcount.load(std::memory_order_relaxed) : 0;
}
std::size_t chan_cap(const hchan* c) noexcept { return c ? c->dataqsiz : 0; }

}  // namespace goro::detail
