// task_group: fork-join with continuation stealing (include/goro/fork_join.hpp).
//
// The scheduler side lives in proc.cpp (fork_goroutine, post_fork) and in each
// P's continuation deque (P::contq, a Chase-Lev deque, src/wsdeque.hpp):
//
//   fork      fork_goroutine switches from the parent straight to the child;
//             post_fork, running on the child's stack once the parent's
//             context is saved, pushes the parent on the P's deque bottom.
//   resume    when the child exits (or parks), next_local() takes runnext,
//             then the deque bottom: the child's own parent, LIFO.
//   steal     an idle P's steal_work() takes a victim's deque top (the oldest
//             continuation) before its run queue.
//   join      below: wait() parks the parent if tasks remain; the last task
//             to finish readies it. Parking makes the M run local work
//             (next_local), so a stalled join costs no thread.
//
// Join protocol (state_ = unfinished tasks | waiting_bit):
//   waiter:  waiter_ = gp; old = state_.fetch_or(waiting_bit)   [in park's unlockf]
//            if old's count is 0: do not park (no task will look at waiter_).
//   task:    old = state_.fetch_sub(1); if old == 1 | waiting_bit: ready(waiter_).
// The fetch_or and the fetch_subs are RMWs of one word, so exactly one of
// them sees the other: either the waiter sees the count already zero, or the
// last task sees the bit. A task touches the group only up to its fetch_sub
// (and the waiter_ read when it is the last one with the bit set: the waiter
// cannot return before that task's ready()), so wait() may return and the
// group be destroyed as soon as the count reaches zero.
#include <goro/fork_join.hpp>

#include "runtime.hpp"

namespace goro {

bool task_group::park_unlock(detail::G* gp, void* self) noexcept {
  auto* tg = static_cast<task_group*>(self);
  tg->waiter_ = gp;
  std::uint64_t old = tg->state_.fetch_or(waiting_bit, std::memory_order_acq_rel);
  // Past this point tg may already be gone if we park (a task readied us and
  // we ran on): touch nothing.
  return (old & ~waiting_bit) != 0;
}

void task_group::task_done() noexcept {
  std::uint64_t old = state_.fetch_sub(1, std::memory_order_acq_rel);
  if (old == (waiting_bit | 1)) detail::ready(waiter_);
}

void task_group::capture(std::exception_ptr e) noexcept {
  bool expected = false;
  if (failed_.compare_exchange_strong(expected, true, std::memory_order_acq_rel))
    error_ = std::move(e);
}

bool task_group::join() noexcept {
  if ((state_.load(std::memory_order_acquire) & ~waiting_bit) != 0) {
    detail::park(&park_unlock, this, detail::wait_reason::sync_wait_group);
  }
  // Every task is done: the waiting bit (if park_unlock set it) is ours to clear.
  state_.store(0, std::memory_order_relaxed);
  waiter_ = nullptr;
  return failed_.load(std::memory_order_acquire);
}

void task_group::wait() {
  if (join()) {
    std::exception_ptr e = std::move(error_);
    error_ = nullptr;
    failed_.store(false, std::memory_order_relaxed);
    std::rethrow_exception(e);
  }
}

task_group::~task_group() {
  if (join() && std::uncaught_exceptions() <= uncaught_at_start_) {
    // A task's exception nobody collected: a panic, as if it had escaped a
    // goroutine (the terminate handler prints it with the throw's stack).
    std::exception_ptr e = std::move(error_);
    std::rethrow_exception(e);  // out of a noexcept destructor: std::terminate
  }
}

}  // namespace goro
