// notify_list operations (Go's notifyListAdd/Wait/NotifyOne/NotifyAll).
#include "notify_list.hpp"

#include "runtime.hpp"

namespace goro::detail {

// One parked notify_list_wait, on its caller's stack.
struct notify_waiter {
  G* g = nullptr;
  std::uint32_t ticket = 0;
  notify_waiter* next = nullptr;  // l->lock
};

namespace {

// a < b in ticket order, which wraps around.
bool ticket_less(std::uint32_t a, std::uint32_t b) {
  return static_cast<std::int32_t>(a - b) < 0;
}

bool unlock_list(G*, void* l) {
  static_cast<notify_list*>(l)->lock.unlock();
  return true;
}

}  // namespace

std::uint32_t notify_list_add(notify_list* l) {
  return l->wait.fetch_add(1, std::memory_order_seq_cst);
}

void notify_list_wait(notify_list* l, std::uint32_t t) {
  l->lock.lock();
  if (ticket_less(t, l->notify.load(std::memory_order_relaxed))) {
    l->lock.unlock();  // already notified
    return;
  }
  notify_waiter w;
  w.g = getg();
  w.ticket = t;
  if (l->tail == nullptr) l->head = &w;
  else l->tail->next = &w;
  l->tail = &w;
  park(&unlock_list, l, wait_reason::sync_cond);
}

void notify_list_notify_one(notify_list* l) {
  // Nothing outstanding: a signal with no waiter is not remembered.
  if (l->wait.load(std::memory_order_seq_cst) == l->notify.load(std::memory_order_seq_cst))
    return;
  l->lock.lock();
  std::uint32_t t = l->notify.load(std::memory_order_relaxed);
  if (t == l->wait.load(std::memory_order_seq_cst)) {
    l->lock.unlock();
    return;
  }
  // Ticket t is now notified, whether or not its holder has queued yet: if it
  // has not, its notify_list_wait will see t < notify and not park.
  l->notify.store(t + 1, std::memory_order_seq_cst);
  notify_waiter* prev = nullptr;
  for (notify_waiter* w = l->head; w != nullptr; prev = w, w = w->next) {
    if (w->ticket != t) continue;
    if (prev != nullptr) prev->next = w->next;
    else l->head = w->next;
    if (l->tail == w) l->tail = prev;
    l->lock.unlock();
    w->next = nullptr;
    ready(w->g);
    return;
  }
  l->lock.unlock();
}

void notify_list_notify_all(notify_list* l) {
  if (l->wait.load(std::memory_order_seq_cst) == l->notify.load(std::memory_order_seq_cst))
    return;
  l->lock.lock();
  notify_waiter* w = l->head;
  l->head = l->tail = nullptr;
  l->notify.store(l->wait.load(std::memory_order_seq_cst), std::memory_order_seq_cst);
  l->lock.unlock();
  while (w != nullptr) {
    notify_waiter* next = w->next;  // read before ready: w's stack may resume
    ready(w->g);
    w = next;
  }
}

}  // namespace goro::detail
