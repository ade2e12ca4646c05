// select (Go's select.go selectgo).
//
// Lock order: a select locks all its channels in address order (each once,
// even if it appears in several cases), the only place that holds several
// channel locks, so concurrent selects over the same channels cannot
// deadlock. Poll order is a fresh random permutation each time: among ready
// cases each is chosen with equal probability.
//
// A blocked select enqueues one sudog per case (is_select) and parks. The
// first waker to win the G's select_done CAS (waitq::dequeue) completes that
// case and records its sudog in g->param; the other sudogs stay queued until
// the select wakes and removes them (waitq::dequeue drops them if met first).
#include <goro/panic.hpp>
#include <goro/select.hpp>
#include <vector>

#include "chan.hpp"

namespace goro::detail {

namespace {

struct lockset {
  scase* cases;
  const int* lockorder;
  int n;

  void lock() const {
    hchan* prev = nullptr;
    for (int i = 0; i < n; ++i) {
      hchan* c = cases[lockorder[i]].c;
      if (c != prev) c->lock.lock();
      prev = c;
    }
  }
  void unlock() const {
    // Reverse order is not required for correctness; it keeps holds short
    // for the channel most likely to be contended (the last locked).
    for (int i = n - 1; i >= 0; --i) {
      hchan* c = cases[lockorder[i]].c;
      if (i == 0 || cases[lockorder[i - 1]].c != c) c->lock.unlock();
    }
  }
};

}  // namespace

template <class T, int N>
struct small_buf_public {
  T inline_[N];
  std::vector<T> heap_;
  T* get(int n) {
    if (n <= N) return inline_;
    heap_.resize(static_cast<std::size_t>(n));
    return heap_.data();
  }
};
template <class T, int N>
using small_buf = small_buf_public<T, N>;

int selectgo(scase* cases, int n, bool block, bool* received) {
  small_buf<int, 8> poll_buf, lock_buf;
  int* pollorder = poll_buf.get(n);
  int* lockorder = lock_buf.get(n);

  // Random poll order over the non-nil cases (inside-out Fisher-Yates).
  int nn = 0;
  for (int i = 0; i < n; ++i) {
    if (cases[i].c == nullptr) continue;  // a nil channel is never ready
    int j = static_cast<int>(fastrandn(static_cast<std::uint32_t>(nn + 1)));
    pollorder[nn] = pollorder[j];
    pollorder[j] = i;
    ++nn;
  }
  if (nn == 0) {
    if (!block) return -1;
    for (;;) park(nullptr, nullptr, wait_reason::select_no_cases);  // Go's select {}
  }
  if (!block) {
    // Fast path: if no case can possibly proceed, take the default without
    // locking anything (each check is Go's single-case non-blocking check).
    bool maybe = false;
    for (int i = 0; i < nn && !maybe; ++i) {
      const scase& cs = cases[pollorder[i]];
      maybe = cs.send ? cs.c->maybe_can_send() : cs.c->maybe_can_recv();
    }
    if (!maybe) return -1;
  }
  // Lock order: by channel address (insertion sort; n is small).
  for (int i = 0; i < nn; ++i) {
    int k = pollorder[i];
    int j = i;
    while (j > 0 && cases[lockorder[j - 1]].c > cases[k].c) {
      lockorder[j] = lockorder[j - 1];
      --j;
    }
    lockorder[j] = k;
  }
  lockset locks{cases, lockorder, nn};
  locks.lock();

  // Pass 1: look for a case that can proceed now.
  wake_list wake;
  for (int i = 0; i < nn; ++i) {
    int k = pollorder[i];
    scase& cs = cases[k];
    hchan* c = cs.c;
    try {
      if (cs.send) {
        if (c->closed.load(std::memory_order_relaxed)) {
          locks.unlock();
          throw panic_error("send on closed channel");
        }
        if (send_to_waiter(c, cs.elem, wake) || send_to_buffer(c, cs.elem)) {
          locks.unlock();
          wake.ready_all();
          return k;
        }
      } else {
        int r = recv_locked(c, cs.elem, wake);
        if (r >= 0) {
          locks.unlock();
          wake.ready_all();
          *received = r == 1;
          return k;
        }
      }
    } catch (const panic_error&) {
      throw;  // already unlocked
    } catch (...) {
      locks.unlock();
      wake.ready_all();
      throw;
    }
  }
  if (!block) {
    locks.unlock();
    wake.ready_all();
    return -1;
  }

  // Pass 2: enqueue on every channel and park.
  G* gp = getg();
  gp->select_done.store(0, std::memory_order_relaxed);
  gp->param = nullptr;
  small_buf<sudog, 4> sg_buf;
  sudog* sgs = sg_buf.get(n);
  for (int i = 0; i < nn; ++i) {
    int k = lockorder[i];
    sudog& sg = sgs[k];
    sg.g = gp;
    sg.c = cases[k].c;
    sg.elem = cases[k].elem;
    sg.is_select = true;
    sg.is_send = cases[k].send;
    sg.success = false;
    sg.case_index = k;
    if (sg.is_send) sg.c->sendq.enqueue(&sg);
    else sg.c->recvq.enqueue(&sg);
  }
  struct park_args {
    lockset* locks;
    wake_list* wake;
  } pa{&locks, &wake};
  park(
      [](G*, void* p) {
        auto* a = static_cast<park_args*>(p);
        a->wake->ready_all();
        a->locks->unlock();
        return true;
      },
      &pa, wait_reason::select);

  // Pass 3: woken by the case in param; withdraw the others.
  auto* won = static_cast<sudog*>(gp->param);
  gp->param = nullptr;
  locks.lock();
  for (int i = 0; i < nn; ++i) {
    int k = lockorder[i];
    sudog& sg = sgs[k];
    if (&sg == won) continue;
    if (sg.is_send) sg.c->sendq.remove(&sg);
    else sg.c->recvq.remove(&sg);
  }
  locks.unlock();
  if (won->is_send) {
    if (won->exc) std::rethrow_exception(won->exc);
    if (!won->success) throw panic_error("send on closed channel");
  } else {
    *received = won->success;
  }
  return won->case_index;
}

}  // namespace goro::detail

namespace goro {

void block_forever() {
  for (;;) detail::park(nullptr, nullptr, detail::wait_reason::select_no_cases);
}

std::size_t select(std::vector<select_case>& cases) {
  const std::size_t n = cases.size();
  detail::small_buf_public<detail::scase, 8> sc_buf;
  detail::small_buf_public<std::size_t, 8> index_buf;
  detail::scase* sc = sc_buf.get(static_cast<int>(n));
  std::size_t* index = index_buf.get(static_cast<int>(n));
  int live = 0;
  std::size_t default_index = n;
  for (std::size_t i = 0; i < n; ++i) {
    if (cases[i].is_default()) {
      if (default_index != n) throw panic_error("select: more than one default case");
      default_index = i;
      continue;
    }
    sc[live] = cases[i].impl().prepare();
    index[live++] = i;
  }
  bool received = false;
  int r = detail::selectgo(sc, live, default_index == n, &received);
  std::size_t chosen = r < 0 ? default_index : index[r];
  cases[chosen].impl().fire(received);
  return chosen;
}

}  // namespace goro
