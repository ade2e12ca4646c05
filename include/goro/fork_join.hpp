// Fork-join with continuation stealing (seed chapter 6, "Stealing Tasks or
// Continuations?").
//
//   long fib(int n) {
//     if (n < 2) return n;
//     long a, b;
//     goro::task_group tg;
//     tg.go([&] { a = fib(n - 1); });   // fork: runs fib(n-1) now
//     b = fib(n - 2);                   // the continuation (may be stolen)
//     tg.wait();                        // join
//     return a + b;
//   }
//
// A task is a goroutine (it may block on channels, mutexes, sleep, ...), but
// task_group::go is child-first where goro::go is parent-first:
//
//   - go(f) starts f *at once* on the calling thread; the caller's
//     continuation (the rest of the caller, from the return of go) is put on
//     its P's work-stealing deque. When f returns, the caller resumes right
//     there, unless an idle P stole the continuation meanwhile, in which case
//     the caller runs in parallel on that P's thread. Thieves take the oldest
//     continuation, the one with the most work left.
//   - wait() returns at once if every task has finished; otherwise the caller
//     parks and its thread runs other local work (the newest continuation
//     first) until the last task readies it. Joins rarely stall.
//   - Each thread holds at most one chain of suspended parents, and deque
//     space is bounded: a recursive fork-join computation keeps O(depth x P)
//     goroutines alive, where parent-first spawning may hold O(tasks).
//
// Called from a plain thread (not a goroutine), go(f) behaves like goro::go
// (f is queued for the scheduler) and wait() blocks the thread.
//
// Exceptions: an exception escaping a task does not panic. The first one is
// captured and rethrown by wait() (later ones are dropped), after every task
// has finished; the group is then empty and reusable. A task_group destroyed
// while tasks run waits for them. If a captured exception was never rethrown
// by wait(), the destructor treats it as a panic (fatal), unless the
// destructor runs because of another exception being thrown, which then wins.
//
// Thread safety: go() may be called by the group's owner and by its own tasks
// (a task may fork siblings); wait() by one goroutine or thread at a time.
// Memory ordering: everything a task did happens before wait() returns.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>

#include <goro/runtime.hpp>

namespace goro {
namespace detail {
// Like start_goroutine, but child-first when the caller is a goroutine on a
// P: switches to g at once and leaves the caller's continuation on its P's
// work-stealing deque. Returns when the caller is resumed (perhaps on
// another thread).
void fork_goroutine(G* g, void (*invoke)(void*)) noexcept;
}  // namespace detail

class task_group {
 public:
  task_group() noexcept = default;
  task_group(const task_group&) = delete;
  task_group& operator=(const task_group&) = delete;
  // Waits for the tasks; see the header comment for a pending exception.
  ~task_group();

  // Forks f (decay-copied, moved if an rvalue) as a task: runs it now, the
  // caller's continuation becomes stealable.
  template <class F>
  void go(F&& f);

  // Joins: returns once every task forked so far (and any they forked on
  // this group) has finished. Rethrows the first exception a task threw.
  void wait();

 private:
  template <class Fn>
  struct task {
    task_group* group;
    Fn fn;
  };

  // A finished task's last touch of the group. Nothing of the group may be
  // used after: wait() may return and destroy it.
  void task_done() noexcept;
  void capture(std::exception_ptr e) noexcept;
  bool join() noexcept;  // waits; true if an exception is pending
  static bool park_unlock(detail::G* gp, void* self) noexcept;

  // Unfinished tasks, plus waiting_bit while the owner is parked in wait()
  // (set by park_unlock after waiter_). The task that takes the count to
  // zero with the bit set readies waiter_.
  static constexpr std::uint64_t waiting_bit = std::uint64_t{1} << 63;
  std::atomic<std::uint64_t> state_{0};
  detail::G* waiter_ = nullptr;
  std::atomic<bool> failed_{false};  // error_ is (being) set; the first thrower wins
  std::exception_ptr error_;         // written once, by the winner, before task_done
  int uncaught_at_start_ = std::uncaught_exceptions();
};

template <class F>
void task_group::go(F&& f) {
  using Fn = std::decay_t<F>;
  using T = task<Fn>;
  void* mem;
  detail::G* g = detail::new_goroutine(sizeof(T), alignof(T), &mem);
  ::new (mem) T{this, Fn(std::forward<F>(f))};
  state_.fetch_add(1, std::memory_order_relaxed);
  detail::fork_goroutine(g, [](void* p) {
    T* t = static_cast<T*>(p);
    task_group* group = t->group;
    try {
      t->fn();
    } catch (...) {
      group->capture(std::current_exception());
    }
    // The closure dies before the join can complete: it may hold references
    // into the joiner's frame.
    t->~T();
    group->task_done();
  });
}

}  // namespace goro
