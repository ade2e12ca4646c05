// goro::context — Go's context package (API.md §6; the seed's chapter 4,
// "The context Package").
//
// A context carries a cancellation signal, an optional deadline and
// request-scoped values down a call graph. It is immutable: functions receive
// it by value as their first parameter and derive children from it
// (with_cancel, with_deadline, with_timeout, with_value, ...); nothing a
// callee does with its context can cancel the caller's.
//
// Tree rules (Go's):
//  * Cancelling a context cancels every context derived from it, at once
//    (synchronously, before the cancel function returns): each done channel in
//    the subtree is closed exactly once.
//  * A child never cancels its parent.
//  * A child of an already cancelled parent is cancelled when it is created,
//    with the parent's err() and cause.
//  * A child that is cancelled (by its cancel function, its deadline or its
//    parent) is unlinked from its parent at once, so a long-lived parent does
//    not accumulate finished children. A child that is never cancelled stays
//    linked until its parent is cancelled or destroyed — as in Go, "failing to
//    call cancel leaks the child until the parent is cancelled": always call
//    the cancel function (a scope guard is the C++ `defer cancel()`).
//
// Lifetime: contexts, cancel functions and done channels are shared handles;
// any of them may outlive the others. A done channel obtained from a context
// is closed when that context is cancelled even if the context handle itself
// is gone. A timer behind with_deadline/with_timeout keeps its context alive
// until it fires or the context is cancelled.
//
// Memory ordering: a cancel (cancel function, deadline, parent cancel)
// happens-before the return of every receive on a done() it closes, and
// before any err() / cause() call that observes it. Everything a goroutine
// did before calling cancel() is visible to a goroutine that saw done()
// closed.
//
// Every call here is safe from any goroutine or plain thread concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <goro/chan.hpp>
#include <goro/clock.hpp>
#include <goro/error.hpp>

namespace goro {

class context;

namespace detail {
struct ctx_node;  // src/context.cpp
std::uint64_t next_context_key_id() noexcept;
const void* context_value(const ctx_node* n, std::uint64_t key_id) noexcept;
context context_with_value(context parent, std::uint64_t key_id, std::shared_ptr<const void> v);
}  // namespace detail

// context_key<T>
//
// A typed key for with_value/value. Keys compare by identity, never by name or
// type: each constructed key is distinct from every other, so two libraries
// cannot collide even with equal names. A copy of a key is the same key.
// The name is for humans (debugging) only.
template <class T>
class context_key {
 public:
  explicit context_key(std::string name)
      : name_(std::move(name)), id_(detail::next_context_key_id()) {}
  const std::string& name() const noexcept { return name_; }
  std::uint64_t id() const noexcept { return id_; }
  friend bool operator==(const context_key& a, const context_key& b) noexcept {
    return a.id_ == b.id_;
  }

 private:
  std::string name_;
  std::uint64_t id_;
};

// context
//
// A cheap, copyable handle (one shared pointer). A default-constructed context
// is background().
class context {
 public:
  context() noexcept = default;  // background()

  // A channel closed when this context is cancelled or its deadline passes;
  // the nil channel (never ready, receiving blocks forever) for a context that
  // can never be cancelled: background(), todo(), without_cancel() and values
  // on top of those. Successive calls return the same channel. The channel is
  // allocated on first call (a context nobody waits on allocates none).
  recv_chan<void> done() const;

  // nil while not cancelled; canceled after a cancel (own or inherited);
  // deadline_exceeded after the deadline passed. Once non-nil, every later
  // call returns the same error. Lock-free.
  error err() const;

  // The time after which this context is cancelled, if any: the earliest of
  // its own deadline and its ancestors'. Successive calls return the same
  // value.
  std::optional<clock::time_point> deadline() const;

  // The value stored for key by the nearest with_value up the chain, or
  // nullptr. The pointer stays valid while this context (or any context
  // derived from it) exists. Successive calls with the same key return the
  // same pointer. Values must be safe to read from several goroutines.
  template <class T>
  const T* value(const context_key<T>& key) const {
    return static_cast<const T*>(detail::context_value(n_.get(), key.id()));
  }

  // Identity: copies of one context are equal.
  friend bool operator==(const context& a, const context& b) noexcept { return a.n_ == b.n_; }

  // For goro's own use.
  explicit context(std::shared_ptr<const detail::ctx_node> n) noexcept : n_(std::move(n)) {}
  const std::shared_ptr<const detail::ctx_node>& node() const noexcept { return n_; }

 private:
  std::shared_ptr<const detail::ctx_node> n_;  // null: background
};

// Cancels its context (err() becomes canceled) and all contexts derived from
// it, then unlinks it from its parent. Idempotent: calls after the first do
// nothing. Safe from any goroutine or thread, concurrently. Does not wait for
// the work under the context to stop.
using cancel_func = std::function<void()>;
// with_cancel_cause's cancel: like cancel_func, and records the cause (nil
// cause: canceled). Only the first call (or parent cancel) sets the cause.
using cancel_cause_func = std::function<void(error)>;

// An empty context: never cancelled, no deadline, no values. background() is
// the root of a program's contexts; todo() marks a place that should take a
// context but does not yet. They are distinct (background() != todo()).
context background();
context todo();

// A child of parent with a new done channel, closed when cancel is called or
// parent is cancelled, whichever happens first.
std::pair<context, cancel_func> with_cancel(context parent);
// with_cancel whose cancel function takes the cause (see cause()).
std::pair<context, cancel_cause_func> with_cancel_cause(context parent);

// A child cancelled with deadline_exceeded at d (on the runtime's timers),
// unless cancelled earlier. If parent's deadline is already earlier than d,
// this is with_cancel(parent) (the child reports the parent's deadline). A d
// already in the past gives a context that is already done with
// deadline_exceeded.
std::pair<context, cancel_func> with_deadline(context parent, clock::time_point d);
// with_deadline(parent, clock::now() + timeout). timeout <= 0: already expired.
std::pair<context, cancel_func> with_timeout(context parent, clock::duration timeout);
// Go 1.21's WithDeadlineCause / WithTimeoutCause: cause(ctx) reports `cause`
// (instead of deadline_exceeded) when the deadline is what cancelled ctx.
std::pair<context, cancel_func> with_deadline_cause(context parent, clock::time_point d,
                                                    error cause);
std::pair<context, cancel_func> with_timeout_cause(context parent, clock::duration timeout,
                                                   error cause);

// A child carrying value under key; everything else (done, err, deadline,
// other keys) comes from parent. A later with_value with the same key
// shadows this one for its descendants. Use values for request-scoped data
// that crosses API boundaries, not for optional parameters.
template <class T>
context with_value(context parent, const context_key<T>& key, T value) {
  return detail::context_with_value(std::move(parent), key.id(),
                                    std::make_shared<const T>(std::move(value)));
}

// Why ctx was cancelled: the cause given to the first with_cancel_cause cancel
// (or with_*_cause deadline) that cancelled ctx or an ancestor; err() if it
// was cancelled some other way; nil if ctx is not cancelled (or cannot be).
error cause(const context& ctx);

// Arranges for f to run in its own goroutine once ctx is done (at once if it
// is already done); each call registers f independently. Returns stop: stop()
// unregisters f and returns true if that prevented f from running; false if f
// has already been started or stop was already called. stop does not wait for
// a started f to finish. For a context that is never cancelled, f never runs.
std::function<bool()> after_func(context ctx, std::function<void()> f);

// A child with parent's values that is never cancelled: no deadline, nil
// done(), nil err() and cause(), whatever happens to parent. For work that
// must finish even though the request that started it was abandoned.
context without_cancel(context parent);

}  // namespace goro
