// goro::context (include/goro/context.hpp), after Go's src/context.
//
// Two structures, so that no reference cycle outlives a cancellation:
//
//  * ctx_node: what a context handle points to. Immutable once built. Holds
//    its parent node (strong, upward: values and deadlines are inherited), the
//    nearest cancellation state at or above it (`state`; null when nothing
//    above can ever be cancelled), and its effective deadline, so done(),
//    err() and deadline() are O(1) on any node; value() walks up.
//
//  * cancel_state: one per with_cancel / with_deadline (Go's cancelCtx /
//    timerCtx). Holds the done channel, the error and cause, and its children:
//    the cancelers to cancel with it (states of derived contexts and
//    after_func registrations). Children are held strongly, downward only
//    (`link_ref`); a child refers to its parent state weakly, only to unlink
//    itself. So a cancelled child is freed as soon as its last handle goes,
//    and a parent that dies uncancelled releases its children.
//
// Invariants, for a cancel_state s:
//  * s.err goes 0 -> canceled/deadline exactly once, under s.mu; s.done is
//    non-null from then on and closed (or the shared closed channel).
//  * A canceler is on s's children list iff its link_ref is set; both, and
//    its prev/next, are guarded by s.mu. Once s.err != 0 the list is empty
//    and stays so (propagate_cancel cancels instead of linking).
//
// Lock order: parent state mu < child state mu (cancel holds its own mu while
// cancelling children, as Go does); a child unlinks itself from its parent
// only after releasing its own mu. The timer's callback runs in its own
// goroutine (goro::after_func), so no timer lock is ever held while taking a
// context lock.
#include <goro/context.hpp>
#include <goro/runtime.hpp>
#include <goro/sync/mutex.hpp>
#include <goro/time.hpp>

#include <mutex>

#include "export_test.hpp"

namespace goro::detail {

namespace {

enum err_code : std::uint8_t { err_none = 0, err_canceled = 1, err_deadline = 2 };

const error& error_of(std::uint8_t code) {
  static const error nil;
  switch (code) {
    case err_canceled: return canceled;
    case err_deadline: return deadline_exceeded;
    default: return nil;
  }
}

// A channel closed once and never freed: the done channel of a context that
// was cancelled before anybody asked for one (Go's closedchan).
hchan* closed_chan() {
  static hchan* const c = [] {
    chan<void> ch = make_chan<void>();
    ch.close();
    hchan* raw = ch.raw();
    chan_retain(raw);  // never released
    return raw;
  }();
  return c;
}

}  // namespace

struct cancel_state;

// Something a cancel_state cancels along with itself.
struct canceler {
  explicit canceler(std::weak_ptr<cancel_state> p) : parent(std::move(p)) {}
  virtual ~canceler() = default;
  // Cancels this with err_code `code` and `cause` (non-nil). remove: also
  // unlink from the parent (false when the parent is the one cancelling).
  virtual void cancel(bool remove, std::uint8_t code, const error& cause) = 0;

  // The state whose children list this is linked into. Set at construction.
  const std::weak_ptr<cancel_state> parent;
  // Guarded by the parent state's mu:
  canceler* prev = nullptr;
  canceler* next = nullptr;
  std::shared_ptr<canceler> link_ref;  // the parent's reference; set iff linked
};

struct cancel_state final : canceler {
  using canceler::canceler;
  ~cancel_state() override;

  void cancel(bool remove, std::uint8_t code, const error& cause) override;
  recv_chan<void> done_chan();

  mutex mu;
  // Lazily made done channel (retained), or closed_chan() when cancelled
  // before any was made. Stored under mu; loaded lock-free.
  std::atomic<hchan*> done{nullptr};
  std::atomic<std::uint8_t> err{err_none};  // stored under mu (release)
  error cause;                              // guarded by mu
  canceler* children = nullptr;             // guarded by mu
  std::size_t nchildren = 0;                // guarded by mu
  std::optional<timer> deadline_timer;      // guarded by mu
  error deadline_cause;                     // immutable after construction
};

enum class node_kind : std::uint8_t { todo, cancel, deadline, value, without_cancel };

struct ctx_node {
  node_kind kind;
  std::shared_ptr<const ctx_node> parent;
  std::shared_ptr<cancel_state> state;  // nearest cancellable; null: never cancelled
  std::optional<clock::time_point> deadline;
  std::uint64_t key_id = 0;               // value nodes
  std::shared_ptr<const void> value;      // value nodes
};

namespace {

// Unlinks c from its parent state, if both are still there.
void remove_child(canceler* c) {
  std::shared_ptr<cancel_state> p = c->parent.lock();
  if (!p) return;  // the parent is gone, and its list with it
  std::shared_ptr<canceler> drop;  // released after the lock: it may be c's last reference
  {
    std::lock_guard lk(p->mu);
    if (!c->link_ref) return;
    if (c->prev) c->prev->next = c->next;
    else p->children = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = nullptr;
    drop = std::move(c->link_ref);
    --p->nchildren;
  }
}

// Go's propagateCancel: arranges for child to be cancelled when parent's
// state is; cancels it now if that already happened.
void propagate_cancel(cancel_state* p, const std::shared_ptr<canceler>& child) {
  if (p == nullptr) return;  // parent is never cancelled
  std::lock_guard lk(p->mu);
  std::uint8_t code = p->err.load(std::memory_order_relaxed);
  if (code != err_none) {
    child->cancel(false, code, p->cause);
    return;
  }
  child->prev = nullptr;
  child->next = p->children;
  if (p->children) p->children->prev = child.get();
  p->children = child.get();
  child->link_ref = child;
  ++p->nchildren;
}

}  // namespace

cancel_state::~cancel_state() {
  // Nobody else can reach this list any more: a child unlinking itself first
  // has to lock() its weak parent pointer, which fails now.
  for (canceler* c = children; c != nullptr;) {
    canceler* next = c->next;
    c->prev = c->next = nullptr;
    std::shared_ptr<canceler> drop = std::move(c->link_ref);
    c = next;
  }
  chan_release(done.load(std::memory_order_relaxed));
}

void cancel_state::cancel(bool remove, std::uint8_t code, const error& why) {
  std::optional<timer> t;
  {
    std::lock_guard lk(mu);
    if (err.load(std::memory_order_relaxed) != err_none) return;  // already cancelled
    cause = why ? why : error_of(code);
    err.store(code, std::memory_order_release);
    hchan* d = done.load(std::memory_order_relaxed);
    if (d == nullptr) {
      d = closed_chan();
      chan_retain(d);
      done.store(d, std::memory_order_release);
    } else {
      chan_close(d);
    }
    // Each child's lock is taken while holding ours (parent < child).
    for (canceler* c = children; c != nullptr;) {
      canceler* next = c->next;
      c->prev = c->next = nullptr;
      std::shared_ptr<canceler> ref = std::move(c->link_ref);
      c->cancel(false, code, cause);
      c = next;
    }
    children = nullptr;
    nchildren = 0;
    t = std::move(deadline_timer);
    deadline_timer.reset();
  }
  if (remove) remove_child(this);
  // t's destructor stops the timer (outside mu: stopping takes the timer's lock).
}

recv_chan<void> cancel_state::done_chan() {
  hchan* d = done.load(std::memory_order_acquire);
  if (d == nullptr) {
    std::lock_guard lk(mu);
    d = done.load(std::memory_order_relaxed);
    if (d == nullptr) {  // not cancelled yet (cancel always sets done)
      chan<void> c = make_chan<void>();
      d = c.raw();
      chan_retain(d);
      done.store(d, std::memory_order_release);
    }
  }
  return recv_chan<void>(retain_raw_t{}, d);
}

namespace {

// A registration made by goro::after_func(ctx, f).
struct after_func_state final : canceler {
  using canceler::canceler;
  void cancel(bool remove, std::uint8_t, const error&) override {
    if (remove) remove_child(this);
    if (!started.exchange(true, std::memory_order_acq_rel)) goro::go(std::move(f));
  }
  std::atomic<bool> started{false};  // f started, or stop() won
  std::function<void()> f;           // touched only by whoever sets `started`
};

std::weak_ptr<cancel_state> weak_state(const context& parent) {
  return parent.node() ? std::weak_ptr<cancel_state>(parent.node()->state)
                       : std::weak_ptr<cancel_state>();
}

cancel_state* state_of(const context& ctx) {
  return ctx.node() ? ctx.node()->state.get() : nullptr;
}

std::shared_ptr<ctx_node> new_node(node_kind kind, const context& parent) {
  auto n = std::make_shared<ctx_node>();
  n->kind = kind;
  n->parent = parent.node();
  if (parent.node()) {
    n->state = parent.node()->state;
    n->deadline = parent.node()->deadline;
  }
  return n;
}

// with_cancel's node and state; not yet linked.
std::pair<std::shared_ptr<ctx_node>, std::shared_ptr<cancel_state>> new_cancel(
    const context& parent, node_kind kind) {
  auto s = std::make_shared<cancel_state>(weak_state(parent));
  auto n = new_node(kind, parent);
  n->state = s;
  return {std::move(n), std::move(s)};
}

}  // namespace

std::uint64_t next_context_key_id() noexcept {
  static std::atomic<std::uint64_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) + 1;
}

const void* context_value(const ctx_node* n, std::uint64_t key_id) noexcept {
  for (; n != nullptr; n = n->parent.get())
    if (n->kind == node_kind::value && n->key_id == key_id) return n->value.get();
  return nullptr;
}

context context_with_value(context parent, std::uint64_t key_id, std::shared_ptr<const void> v) {
  auto n = new_node(node_kind::value, parent);
  n->key_id = key_id;
  n->value = std::move(v);
  return context(std::move(n));
}

std::size_t context_children(const context& ctx) {
  cancel_state* s = state_of(ctx);
  if (s == nullptr) return 0;
  std::lock_guard lk(s->mu);
  return s->nchildren;
}

}  // namespace goro::detail

namespace goro {

using namespace detail;

recv_chan<void> context::done() const {
  if (!n_ || !n_->state) return {};
  return n_->state->done_chan();
}

error context::err() const {
  if (!n_ || !n_->state) return {};
  return error_of(n_->state->err.load(std::memory_order_acquire));
}

std::optional<clock::time_point> context::deadline() const {
  return n_ ? n_->deadline : std::nullopt;
}

context background() { return context(); }

context todo() {
  static const std::shared_ptr<const ctx_node>* const node = [] {
    auto n = std::make_shared<ctx_node>();
    n->kind = node_kind::todo;
    return new std::shared_ptr<const ctx_node>(std::move(n));  // never freed
  }();
  return context(*node);
}

std::pair<context, cancel_func> with_cancel(context parent) {
  auto [n, s] = new_cancel(parent, node_kind::cancel);
  propagate_cancel(state_of(parent), s);
  return {context(std::move(n)), [s = s] { s->cancel(true, err_canceled, error()); }};
}

std::pair<context, cancel_cause_func> with_cancel_cause(context parent) {
  auto [n, s] = new_cancel(parent, node_kind::cancel);
  propagate_cancel(state_of(parent), s);
  return {context(std::move(n)), [s = s](error why) { s->cancel(true, err_canceled, why); }};
}

std::pair<context, cancel_func> with_deadline_cause(context parent, clock::time_point d,
                                                    error why) {
  if (auto cur = parent.deadline(); cur && *cur < d) return with_cancel(std::move(parent));
  auto [n, s] = new_cancel(parent, node_kind::deadline);
  n->deadline = d;
  s->deadline_cause = std::move(why);
  propagate_cancel(state_of(parent), s);
  cancel_func cancel = [s = s] { s->cancel(true, err_canceled, error()); };
  clock::duration left = d - clock::now();
  if (left <= clock::duration::zero()) {
    s->cancel(true, err_deadline, s->deadline_cause);  // already past
  } else {
    std::lock_guard lk(s->mu);
    if (s->err.load(std::memory_order_relaxed) == err_none) {
      // The callback keeps s alive until it fires; cancel drops the timer.
      s->deadline_timer.emplace(goro::after_func(left, [s = s] {
        s->cancel(true, err_deadline, s->deadline_cause);
      }));
    }
  }
  return {context(std::move(n)), std::move(cancel)};
}

std::pair<context, cancel_func> with_deadline(context parent, clock::time_point d) {
  return with_deadline_cause(std::move(parent), d, error());
}

std::pair<context, cancel_func> with_timeout(context parent, clock::duration timeout) {
  return with_deadline_cause(std::move(parent), clock::now() + timeout, error());
}

std::pair<context, cancel_func> with_timeout_cause(context parent, clock::duration timeout,
                                                   error why) {
  return with_deadline_cause(std::move(parent), clock::now() + timeout, std::move(why));
}

error cause(const context& ctx) {
  cancel_state* s = state_of(ctx);
  if (s == nullptr) return {};
  std::lock_guard lk(s->mu);
  return s->cause;
}

std::function<bool()> after_func(context ctx, std::function<void()> f) {
  if (!f) throw panic_error("context: after_func with an empty function");
  auto a = std::make_shared<after_func_state>(weak_state(ctx));
  a->f = std::move(f);
  propagate_cancel(state_of(ctx), a);
  return [a] {
    if (a->started.exchange(true, std::memory_order_acq_rel)) return false;
    remove_child(a.get());
    a->f = nullptr;
    return true;
  };
}

context without_cancel(context parent) {
  auto n = new_node(node_kind::without_cancel, parent);
  n->state = nullptr;
  n->deadline.reset();
  return context(std::move(n));
}

}  // namespace goro
