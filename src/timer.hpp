// Runtime timers: the mechanism under sleep, after, tick, timer, ticker,
// after_func and context deadlines.
//
// Timers live in a fixed set of sharded min-heaps (a goroutine adds to the
// shard of its P, a plain thread to a random one), so adds and removals from
// different Ps do not contend. Nothing polls: Ms run due timers when they
// look for work (findrunnable, every 61st schedule tick), and one idle M, the
// "timer sleeper", sleeps exactly until the earliest timer instead of
// indefinitely (proc.cpp, stopm). A timer earlier than the sleeper's deadline
// wakes it.
//
// Lock order: rtimer::mu < shard lock < sched.lock. A callback runs with mu
// held and must not block; Gs it wants readied go into a ready_batch that is
// readied after every lock is dropped and the timer is no longer touched.
#pragma once

#include <atomic>
#include <climits>
#include <cstdint>
#include <vector>

#include "lock.hpp"
#include "runtime.hpp"

namespace goro::detail {

struct timer_shard;

struct ready_batch {
  std::vector<G*> gs;
  void add(G* g) { gs.push_back(g); }
};

struct rtimer {
  lock_t mu;  // serialises start/stop/fire; guards the fields up to `shard`
  bool pending = false;   // armed, and neither fired nor stopped since
  std::uint64_t seq = 0;  // bumped by every stop/start (with the shard lock too)
  std::int64_t period = 0;  // > 0: re-armed after each fire
  // Called with mu held when the timer fires; must not block.
  void (*f)(rtimer* t, std::int64_t now, ready_batch& batch) = nullptr;
  void* arg = nullptr;
  // Heap-allocated timers are reference counted: one reference while armed
  // (the heap's) plus the owners'. Stack timers (sleep) are never freed here.
  std::atomic<int> refs{0};
  bool heap_allocated = false;
  void (*on_free)(rtimer*) = nullptr;  // heap_allocated: releases arg, deletes
  // The deadline (while pending), and the deadline its heap entry was
  // pushed or last moved with: when >= entry_when (timer_rearm moves only
  // deadlines that get earlier; the runner re-pushes an entry that comes due
  // early). Written with mu and, at arm time, the shard's lock; read with mu.
  std::int64_t when = 0;
  std::int64_t entry_when = 0;
  // Guarded by the lock of the shard the timer is in:
  int idx = -1;              // position in that shard's heap; -1 if in none
  std::uint64_t heap_seq = 0;  // seq when it was pushed
  // Written under that shard's lock; read by timer_disarm (with mu held) to
  // find the shard to lock, so atomic.
  std::atomic<timer_shard*> shard{nullptr};
};

// t->mu held. Arms t to fire at `when` (monotonic ns); t must not be armed.
void timer_arm(rtimer* t, std::int64_t when);
// t->mu held. Disarms t; returns whether it was pending.
bool timer_disarm(rtimer* t);

// t->mu held. timer_disarm + timer_arm in one step; returns whether t was
// pending. A timer still in a heap is moved in place (one shard lock, no
// reference traffic): the path of timer::reset on an active timer.
bool timer_rearm(rtimer* t, std::int64_t when);

void timer_retain(rtimer* t);
void timer_release(rtimer* t);

// Runs every timer due at `now`; readies the Gs they wake. Any M may call it,
// with or without a P. Returns the earliest remaining deadline (LLONG_MAX if
// none). notify: afterwards, make sure an M wakes for that deadline (pass
// false only from stopm, which re-evaluates the sleeper itself).
std::int64_t run_due_timers(std::int64_t now, bool notify = true);
// The earliest armed deadline (a hint; LLONG_MAX if none, and transiently
// LLONG_MAX while run_due_timers scans).
std::int64_t timers_earliest();
// Exact: whether any timer is in a heap (takes every shard lock; checkdead).
bool timers_pending();

// proc.cpp: a timer at `when` was armed; make sure an M will wake for it.
void timers_changed(std::int64_t when);

// Parks the current goroutine (or blocks the thread) for ns nanoseconds.
void sleep_ns(std::int64_t ns);

}  // namespace goro::detail
