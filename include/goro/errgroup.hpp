// goro::errgroup — golang.org/x/sync/errgroup (API.md §4).
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include <goro/chan.hpp>
#include <goro/context.hpp>
#include <goro/error.hpp>
#include <goro/panic.hpp>
#include <goro/runtime.hpp>
#include <goro/sync/mutex.hpp>
#include <goro/sync/wait_group.hpp>

namespace goro {

// errgroup
//
// A group of goroutines working on subtasks of one task: go(f) starts f in a
// goroutine, wait() waits for all of them and returns the first non-nil error
// any returned. A default-constructed group has no limit and no context.
//
// f returns goro::error (nil: success) or void. An exception thrown by f
// becomes f's error: new_error(e.what()) for a std::exception, "errgroup:
// unknown exception" otherwise (it does not crash the process, unlike an
// exception escaping a plain goroutine).
//
// with_context(parent): also returns a child of parent that is cancelled —
// with the error as its cause() — when the first f fails, or when wait()
// returns, whichever comes first. Subtasks should watch it to stop early.
//
// set_limit(n): at most n goroutines of the group active at once; go() blocks
// (parks) until a slot is free, try_go() returns false instead. n < 0: no
// limit. Changing the limit while goroutines of the group are active throws
// goro::panic_error, as Go panics.
//
// A group is a move-only handle to shared state; the goroutines it started
// keep that state alive, so destroying (or moving) the group while they run
// is safe (their errors are then lost). Once wait() has returned, the group
// may be reused for a new round; its first error is kept.
//
// Memory ordering: everything each f did happens-before wait() returns.
// go() and wait() may be called from several goroutines, but a go() that is
// to be waited for must happen-before the wait() (as with wait_group).
class errgroup {
 public:
  errgroup() : s_(std::make_shared<state>()) {}
  errgroup(errgroup&&) noexcept = default;
  errgroup& operator=(errgroup&&) noexcept = default;
  errgroup(const errgroup&) = delete;
  errgroup& operator=(const errgroup&) = delete;

  // A group whose context (the second member) is cancelled on the first error
  // or when wait() returns.
  static std::pair<errgroup, context> with_context(context parent) {
    errgroup g;
    auto [ctx, cancel] = with_cancel_cause(std::move(parent));
    g.s_->cancel = std::move(cancel);
    return {std::move(g), std::move(ctx)};
  }

  // Runs f in a new goroutine; blocks first while the group is at its limit.
  template <class F>
  void go(F&& f) {
    chan<void> slot = st().sem;
    if (slot) slot.send();
    spawn(std::forward<F>(f), std::move(slot));
  }

  // Like go(), but returns false without starting f if the group is at its
  // limit.
  template <class F>
  [[nodiscard]] bool try_go(F&& f) {
    chan<void> slot = st().sem;
    if (slot && !slot.try_send()) return false;
    spawn(std::forward<F>(f), std::move(slot));
    return true;
  }

  // Bounds the number of active goroutines (n < 0: unbounded; 0: go() blocks
  // forever). panic_error if any goroutine of the group is active.
  void set_limit(int n);

  // Waits for every goroutine started by go()/try_go() to return; cancels the
  // group's context (if any); returns the first error (nil if none).
  error wait();

 private:
  struct state {
    wait_group wg;
    // nil: no limit; else a buffered channel holding one token per active
    // goroutine (set_limit replaces it; each goroutine returns its token to
    // the channel it took it from).
    chan<void> sem;
    mutex mu;
    error err;                // the first error; guarded by mu
    bool has_err = false;     // guarded by mu
    cancel_cause_func cancel; // with_context only; set before any go()

    void fail(error e);
  };

  state& st() {
    if (!s_) s_ = std::make_shared<state>();  // a moved-from group starts afresh
    return *s_;
  }

  template <class F>
  void spawn(F&& f, chan<void> slot) {
    std::shared_ptr<state> s = s_;
    s->wg.add(1);
    goro::go([s, slot = std::move(slot), fn = std::decay_t<F>(std::forward<F>(f))]() mutable {
      struct done_guard {
        state* s;
        chan<void>& slot;
        ~done_guard() {
          if (slot) (void)slot.try_recv();
          s->wg.done();
        }
      } guard{s.get(), slot};
      error e;
      try {
        // Destroyed before the guard runs: what f captured is released by
        // the time wait() returns.
        std::decay_t<F> local(std::move(fn));
        if constexpr (std::is_void_v<std::invoke_result_t<std::decay_t<F>&>>) {
          std::invoke(local);
        } else {
          e = error(std::invoke(local));
        }
      } catch (const std::exception& ex) {
        e = new_error(ex.what());
      } catch (...) {
        e = new_error("errgroup: unknown exception");
      }
      if (e) s->fail(std::move(e));
    });
  }

  std::shared_ptr<state> s_;
};

}  // namespace goro
