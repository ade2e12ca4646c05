// Runtime timers: sharded 4-ary heaps; see timer.hpp for the protocol.
#include "timer.hpp"

#include <thread>

#include "switch.hpp"

namespace goro::detail {

// One heap of armed timers. Entries carry their deadline so sifting never
// dereferences a timer (sleep's timers live on 100k different stacks).
// Invariant: heap[i].t->idx == i, heap[i].t->shard == this and heap[i].when
// == heap[i].t->entry_when <= heap[i].t->when for every i (an entry may be
// early: timer_rearm's lazy path); next_when == heap[0].when (LLONG_MAX when
// empty), written under mu and read racily as a hint.
struct heap_entry {
  std::int64_t when;
  rtimer* t;
};
struct alignas(64) timer_shard {
  lock_t mu;
  std::vector<heap_entry> heap;
  std::atomic<std::int64_t> next_when{LLONG_MAX};
};

namespace {

constexpr int nshards = 16;
timer_shard* shards() {
  static timer_shard* s = new timer_shard[nshards];  // never destroyed
  return s;
}

// Earliest deadline over all shards (hint). Lowered by arms (after their
// push); recomputed by run_due_timers, which resets it to LLONG_MAX before it
// scans and lowers it to what it found after. In between, a reader may see
// LLONG_MAX while timers are pending: whoever runs timers re-checks the timer
// sleeper afterwards (run_due_timers' `notify`, or stopm's loop), and
// checkdead asks timers_pending() instead.
std::atomic<std::int64_t> earliest{LLONG_MAX};

void sift_up(timer_shard* s, int i) {
  auto& h = s->heap;
  heap_entry e = h[i];
  while (i > 0) {
    int parent = (i - 1) / 4;
    if (h[parent].when <= e.when) break;
    h[i] = h[parent];
    h[i].t->idx = i;
    i = parent;
  }
  h[i] = e;
  e.t->idx = i;
}

void sift_down(timer_shard* s, int i) {
  auto& h = s->heap;
  int n = static_cast<int>(h.size());
  heap_entry e = h[i];
  for (;;) {
    int c = 4 * i + 1;
    if (c >= n) break;
    int best = c;
    for (int k = c + 1; k < c + 4 && k < n; ++k)
      if (h[k].when < h[best].when) best = k;
    if (h[best].when >= e.when) break;
    h[i] = h[best];
    h[i].t->idx = i;
    i = best;
  }
  h[i] = e;
  e.t->idx = i;
}

// s->mu held.
void heap_remove(timer_shard* s, rtimer* t) {
  auto& h = s->heap;
  int i = t->idx;
  heap_entry last = h.back();
  h.pop_back();
  if (last.t != t) {
    h[i] = last;
    last.t->idx = i;
    sift_down(s, i);
    sift_up(s, last.t->idx);
  }
  t->idx = -1;
  t->shard.store(nullptr, std::memory_order_relaxed);
  s->next_when.store(h.empty() ? LLONG_MAX : h[0].when, std::memory_order_relaxed);
}

timer_shard* pick_shard() {
  M* m = current_m();
  if (m && m->p) return &shards()[m->p->id % nshards];
  return &shards()[fastrandn(nshards)];
}

void lower_earliest(std::int64_t when) {
  std::int64_t cur = earliest.load(std::memory_order_relaxed);
  while (when < cur && !earliest.compare_exchange_weak(cur, when, std::memory_order_seq_cst)) {
  }
}

}  // namespace

namespace {

// t->mu and s->mu held: t is (about to be) in s's heap, due at `when`.
void mark_armed(rtimer* t, std::int64_t when) {
  ++t->seq;
  t->pending = true;
  t->when = when;
  t->entry_when = when;
  t->heap_seq = t->seq;
}

// s->mu held, s's heap changed to hold a timer due at `when`: publishes the
// shard's new head, drops the lock, and makes sure an M wakes in time.
void publish_and_unlock(timer_shard* s, std::int64_t when) {
  s->next_when.store(s->heap[0].when, std::memory_order_seq_cst);
  s->mu.unlock();
  lower_earliest(when);
  timers_changed(when);
}

}  // namespace

void timer_arm(rtimer* t, std::int64_t when) {
  timer_shard* s = pick_shard();
  if (t->heap_allocated) timer_retain(t);  // the heap's reference
  s->mu.lock();
  mark_armed(t, when);
  t->shard.store(s, std::memory_order_relaxed);
  s->heap.push_back({when, t});
  sift_up(s, static_cast<int>(s->heap.size()) - 1);
  publish_and_unlock(s, when);
}

bool timer_disarm(rtimer* t) {
  bool was = t->pending;
  t->pending = false;
  bool drop_ref = false;
  // The shard may change under us only through arm/disarm, which need t->mu.
  if (timer_shard* s = t->shard.load(std::memory_order_relaxed)) {
    s->mu.lock();
    ++t->seq;
    if (t->idx >= 0) {
      heap_remove(s, t);
      drop_ref = t->heap_allocated;
    }
    s->mu.unlock();
  } else {
    ++t->seq;  // popped by a runner that has not fired it yet: it will skip it
  }
  if (drop_ref) timer_release(t);
  return was;
}

bool timer_rearm(rtimer* t, std::int64_t when) {
  bool was = t->pending;
  if (was && when >= t->entry_when) {
    // Later than its heap entry (Go's timerModifiedLater): leave the entry
    // where it is. Whoever pops it finds t->when in the future and pushes t
    // again at t->when instead of firing it: one re-push per deadline that
    // passes, instead of a shard lock and a sift per reset. (pending means
    // the entry is in a heap or popped by a runner that waits for t->mu.)
    t->when = when;
    return was;
  }
  if (timer_shard* s = t->shard.load(std::memory_order_relaxed)) {
    s->mu.lock();
    // Still in s's heap (a runner pops only under s->mu, and then clears
    // idx; nothing else can move t while we hold t->mu): move it in place.
    // Its heap reference stays.
    if (t->idx >= 0) {
      mark_armed(t, when);
      s->heap[t->idx].when = when;
      sift_up(s, t->idx);
      sift_down(s, t->idx);
      publish_and_unlock(s, when);
      return was;
    }
    s->mu.unlock();
  }
  timer_disarm(t);
  timer_arm(t, when);
  return was;
}

void timer_retain(rtimer* t) { t->refs.fetch_add(1, std::memory_order_relaxed); }

void timer_release(rtimer* t) {
  if (t->refs.fetch_sub(1, std::memory_order_acq_rel) == 1 && t->on_free) t->on_free(t);
}

std::int64_t timers_earliest() { return earliest.load(std::memory_order_acquire); }

std::int64_t run_due_timers(std::int64_t now, bool notify) {
  ready_batch batch;
  std::int64_t next = LLONG_MAX;
  // Reset the hint first: an arm racing with this scan lowers it again. An
  // RMW, not a store: the shard loads below must not be ordered before it
  // (x86 lets a plain store pass later loads), or an arm pushed into a shard
  // this scan already read could have its lowering overwritten.
  earliest.exchange(LLONG_MAX, std::memory_order_seq_cst);
  for (int i = 0; i < nshards; ++i) {
    timer_shard* s = &shards()[i];
    std::int64_t nw = s->next_when.load(std::memory_order_seq_cst);
    if (nw > now) {
      next = std::min(next, nw);
      continue;
    }
    for (;;) {
      s->mu.lock();
      if (s->heap.empty() || s->heap[0].when > now) {
        s->mu.unlock();
        break;
      }
      rtimer* t = s->heap[0].t;
      std::uint64_t seq = t->heap_seq;
      heap_remove(s, t);
      s->mu.unlock();
      // We own the heap's reference now.
      t->mu.lock();
      if (t->seq != seq || !t->pending) {
        // stopped or re-armed since this entry was pushed: a stale entry
      } else if (t->when > now) {
        timer_arm(t, t->when);  // reset to later since this entry was pushed
      } else {
        t->pending = false;
        t->f(t, now, batch);
        if (t->period > 0 && !t->pending && t->seq == seq) {
          std::int64_t when = t->when + t->period;
          if (when <= now) when = now + t->period;  // fell behind: drop ticks, as Go does
          timer_arm(t, when);
        }
      }
      t->mu.unlock();
      if (t->heap_allocated) timer_release(t);
    }
    next = std::min(next, s->next_when.load(std::memory_order_seq_cst));
  }
  lower_earliest(next);
  ready_many(batch.gs.data(), batch.gs.size());
  // An M that went idle while the hint read LLONG_MAX may sleep indefinitely
  // although `next` is pending: make sure some M wakes for it.
  if (notify && next != LLONG_MAX) timers_changed(next);
  return timers_earliest();
}

bool timers_pending() {
  for (int i = 0; i < nshards; ++i) {
    timer_shard* s = &shards()[i];
    s->mu.lock();
    bool any = !s->heap.empty();
    s->mu.unlock();
    if (any) return true;
  }
  return false;
}

void sleep_ns(std::int64_t ns) {
  if (ns <= 0) return;
  M* m = current_m();
  if (m == nullptr || m->curg->is_g0) {
    std::this_thread::sleep_for(std::chrono::nanoseconds(ns));
    return;
  }
  rtimer t;
  t.arg = m->curg;
  t.f = [](rtimer* self, std::int64_t, ready_batch& b) { b.add(static_cast<G*>(self->arg)); };
  struct args {
    rtimer* t;
    std::int64_t when;
  } a{&t, nanotime() + ns};
  // Arm once we are off our stack: the timer may fire at once.
  park(
      [](G*, void* p) {
        auto* a = static_cast<args*>(p);
        a->t->mu.lock();
        timer_arm(a->t, a->when);
        a->t->mu.unlock();
        return true;
      },
      &a, wait_reason::sleep);
}

}  // namespace goro::detail
