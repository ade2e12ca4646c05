// Ticket-based notification list behind goro::cond (Go's runtime notifyList,
// in runtime/sema.go).
//
// A waiter first takes a ticket (notify_list_add), then releases the user's
// lock, then waits for its ticket (notify_list_wait). Tickets are handed out
// in order, and signal wakes the waiter holding ticket `notify`, the oldest
// not yet notified: FIFO, and a signal that arrives between a waiter's
// unlock and its park is not lost (the ticket is already counted), while a
// signal with no ticket outstanding is not remembered.
//
// Invariants (lock held): every queued waiter's ticket t satisfies
// notify <= t < wait (in wrap-around order); tickets in [notify, wait) that are
// not queued belong to waiters between notify_list_add and notify_list_wait.
//
// Lock ranks: lock is a leaf, never held across park (unlockf releases it).
#pragma once

#include <atomic>
#include <cstdint>

#include "lock.hpp"

namespace goro::detail {

struct notify_waiter;

struct notify_list {
  // Ticket of the next waiter. Incremented without the lock.
  std::atomic<std::uint32_t> wait{0};
  // Ticket of the next waiter to notify. Written under lock; read without it
  // by the fast "nobody waits" check.
  std::atomic<std::uint32_t> notify{0};
  lock_t lock;
  notify_waiter* head = nullptr;  // lock: queued waiters, in park order
  notify_waiter* tail = nullptr;  // lock
};

// Takes the caller's ticket. Call before releasing the user's lock.
std::uint32_t notify_list_add(notify_list* l);
// Parks until ticket t has been notified (returns at once if it already was).
void notify_list_wait(notify_list* l, std::uint32_t t);
// Notifies the oldest ticket not yet notified, if any is outstanding.
void notify_list_notify_one(notify_list* l);
// Notifies every outstanding ticket.
void notify_list_notify_all(notify_list* l);

}  // namespace goro::detail
