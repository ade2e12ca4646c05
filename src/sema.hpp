// The runtime semaphore (Go's runtime/sema.go): the one narrow interface the
// sync package blocks through, as Go's sync talks to its runtime only through
// runtime_Semacquire / runtime_Semrelease / runtime_notifyList*.
//
// A semaphore is any std::atomic<uint32_t> word owned by a primitive (a
// mutex's sema, a wait_group's sema...). Its value is a count of wake-ups
// that have been released but not yet consumed. Goroutines (and plain
// threads) that find it zero wait in a FIFO queue per address, kept in a
// hashed table of buckets: a primitive needs no wait queue of its own, so it
// stays a couple of words and is constant-initialisable.
//
// Lifetime rule (what lets a wait_group or mutex be destroyed as soon as its
// last waiter returns): semrelease touches *addr only before it readies the
// waiter it dequeued. After that it touches only the table, and compares addr
// with queued addresses without dereferencing it.
//
// Lock ranks: a bucket lock is a leaf. It is never held while taking another
// lock, nor across park (park's unlockf releases it).
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime.hpp"

namespace goro::detail {

// Decrements *addr if it is > 0, without waiting; false if it was 0.
bool semtryacquire(std::atomic<std::uint32_t>* addr);

// Waits until *addr > 0, then decrements it. lifo: queue at the front of
// addr's waiters (a mutex waiter that was woken and lost the race again).
// Returns true if a semrelease(handoff) transferred the count to us directly:
// nobody could take it in between.
bool semacquire(std::atomic<std::uint32_t>* addr, bool lifo, wait_reason why);

// Increments *addr and wakes the longest waiter on addr, if any. handoff:
// pass the count straight to that waiter and yield the caller's P to it
// (a starving mutex's direct hand-over).
void semrelease(std::atomic<std::uint32_t>* addr, bool handoff);

// Adds n to *addr in one step and wakes up to n waiters on addr. After the
// add it no longer touches *addr (see the lifetime rule above), so a
// primitive that releases all its waiters at once (wait_group, rw_mutex's
// readers) stays destroyable by whichever of them returns first.
void semrelease_n(std::atomic<std::uint32_t>* addr, std::uint32_t n);

}  // namespace goro::detail
