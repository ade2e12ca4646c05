// select (API.md §3; Go's select statement).
//
//   goro::select(goro::recv(in, [&](std::optional<int> v) { ... }),
//                goro::send(out, 42, [] { ... }),
//                goro::default_case());
//
// Runs exactly one case: if several are ready, one is chosen uniformly at
// random (Go's fairness); if none is ready it runs default_case, or blocks
// until one is. A recv case on a closed channel is always ready (its handler
// gets std::nullopt / false); a send case on a closed channel throws
// panic_error. Cases on nil channels are never ready; with only nil cases and
// no default, select blocks forever. Returns the index of the case that ran.
// A case's handler runs after the case fired, on the calling goroutine.
//
// A blocked select waits on all its channels at once and is withdrawn from
// the others when one fires. Channels are locked in address order, so
// concurrent selects over the same channels cannot deadlock; the same
// channel may appear in several cases.
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <goro/chan.hpp>
#include <goro/detail/chan_core.hpp>

namespace goro {

namespace detail {

struct no_handler {};
struct empty_storage {
  void* ptr() noexcept { return nullptr; }
};

template <class C>
struct chan_elem;
template <class T>
struct chan_elem<chan<T>> {
  using type = T;
};
template <class T>
struct chan_elem<recv_chan<T>> {
  using type = T;
};
template <class T>
struct chan_elem<send_chan<T>> {
  using type = T;
};

template <class C>
inline constexpr bool is_recv_handle = false;
template <class T>
inline constexpr bool is_recv_handle<chan<T>> = true;
template <class T>
inline constexpr bool is_recv_handle<recv_chan<T>> = true;
template <class C>
inline constexpr bool is_send_handle = false;
template <class T>
inline constexpr bool is_send_handle<chan<T>> = true;
template <class T>
inline constexpr bool is_send_handle<send_chan<T>> = true;

// What a recv case delivers: std::optional<T>, or bool for chan<void>.
template <class T>
using recv_value_t = std::conditional_t<std::is_void_v<T>, bool, std::optional<T>>;

template <class H, class V>
void call_handler(H& h, V&& v) {
  if constexpr (std::is_same_v<H, no_handler>) {
    (void)v;
  } else if constexpr (std::is_invocable_v<H&, V&&>) {
    h(std::forward<V>(v));
  } else {
    h();
  }
}

// Sink: no_handler (discard), recv_value_t<T>* (store), or a handler.
template <class T, class Sink>
struct recv_case {
  static constexpr bool is_default = false;
  hchan* c;
  Sink sink;
  std::conditional_t<std::is_void_v<T>, empty_storage, raw_storage<std::conditional_t<std::is_void_v<T>, char, T>>> buf;

  static constexpr bool discards = std::is_same_v<Sink, no_handler>;
  scase make() { return {c, discards ? nullptr : static_cast<void*>(buf.ptr()), false}; }
  void fire(bool received) {
    if constexpr (std::is_void_v<T>) {
      deliver(bool{received});
    } else if constexpr (discards) {
      (void)received;
    } else if (received) {
      T* p = buf.ptr();
      struct destroy {
        T* p;
        ~destroy() { p->~T(); }
      } d{p};
      deliver(std::optional<T>(std::move(*p)));
    } else {
      deliver(std::optional<T>());
    }
  }
  void deliver(recv_value_t<T>&& v) {
    if constexpr (std::is_pointer_v<Sink>) *sink = std::move(v);
    else call_handler(sink, std::move(v));
  }
};

template <class T, class H>
struct send_case {
  static constexpr bool is_default = false;
  hchan* c;
  std::conditional_t<std::is_void_v<T>, char, T> value;
  H handler;
  scase make() { return {c, std::is_void_v<T> ? nullptr : static_cast<void*>(std::addressof(value)), true}; }
  void fire(bool) {
    if constexpr (!std::is_same_v<H, no_handler>) handler();
  }
};

template <class H>
struct default_case_t {
  static constexpr bool is_default = true;
  H handler;
  void fire(bool) {
    if constexpr (!std::is_same_v<H, no_handler>) handler();
  }
};

template <class C>
inline constexpr bool is_case = false;
template <class T, class S>
inline constexpr bool is_case<recv_case<T, S>> = true;
template <class T, class H>
inline constexpr bool is_case<send_case<T, H>> = true;
template <class H>
inline constexpr bool is_case<default_case_t<H>> = true;

}  // namespace detail

// recv(ch): receive and discard (also fires when ch is closed).
template <class C>
  requires detail::is_recv_handle<std::decay_t<C>>
auto recv(const C& ch) {
  using T = typename detail::chan_elem<std::decay_t<C>>::type;
  return detail::recv_case<T, detail::no_handler>{ch.raw(), {}, {}};
}

// recv(ch, out): out = the value, or nullopt if closed (bool& for chan<void>).
// recv(ch, handler): handler(std::optional<T>) (bool for chan<void>), or handler().
template <class C, class S>
  requires detail::is_recv_handle<std::decay_t<C>>
auto recv(const C& ch, S&& sink_or_handler) {
  using T = typename detail::chan_elem<std::decay_t<C>>::type;
  using V = detail::recv_value_t<T>;
  if constexpr (std::is_same_v<std::remove_cvref_t<S>, V> && std::is_lvalue_reference_v<S> &&
                !std::is_const_v<std::remove_reference_t<S>>) {
    return detail::recv_case<T, V*>{ch.raw(), &sink_or_handler, {}};
  } else {
    return detail::recv_case<T, std::decay_t<S>>{ch.raw(), std::forward<S>(sink_or_handler), {}};
  }
}

template <class C>
using elem_of = typename detail::chan_elem<std::decay_t<C>>::type;

// send(ch, value[, handler]); for chan<void>: send(ch[, handler]).
template <class C, class V>
  requires detail::is_send_handle<std::decay_t<C>> && (!std::is_void_v<elem_of<C>>)
auto send(const C& ch, V&& value) {
  using T = elem_of<C>;
  return detail::send_case<T, detail::no_handler>{ch.raw(), T(std::forward<V>(value)), {}};
}
template <class C, class V, class H>
  requires detail::is_send_handle<std::decay_t<C>> && (!std::is_void_v<elem_of<C>>)
auto send(const C& ch, V&& value, H&& handler) {
  using T = elem_of<C>;
  return detail::send_case<T, std::decay_t<H>>{ch.raw(), T(std::forward<V>(value)),
                                               std::forward<H>(handler)};
}
template <class C>
  requires detail::is_send_handle<std::decay_t<C>> && std::is_void_v<elem_of<C>>
auto send(const C& ch) {
  return detail::send_case<void, detail::no_handler>{ch.raw(), 0, {}};
}
template <class C, class H>
  requires detail::is_send_handle<std::decay_t<C>> && std::is_void_v<elem_of<C>>
auto send(const C& ch, H&& handler) {
  return detail::send_case<void, std::decay_t<H>>{ch.raw(), 0, std::forward<H>(handler)};
}

// Makes a select non-blocking; runs (with its handler) when no case is ready.
inline auto default_case() { return detail::default_case_t<detail::no_handler>{}; }
template <class H>
auto default_case(H&& handler) {
  return detail::default_case_t<std::decay_t<H>>{std::forward<H>(handler)};
}

// Go's `select {}`: parks the caller forever.
[[noreturn]] void block_forever();

template <class... Cases>
std::size_t select(Cases&&... cases) {
  static_assert((detail::is_case<std::decay_t<Cases>> && ...),
                "select takes goro::recv(...), goro::send(...) and goro::default_case(...)");
  constexpr std::size_t n = sizeof...(Cases);
  constexpr std::size_t ndefault = (std::size_t{std::decay_t<Cases>::is_default} + ... + 0);
  static_assert(ndefault <= 1, "select: at most one default_case");
  std::array<detail::scase, n == 0 ? 1 : n> sc{};
  std::array<std::size_t, n == 0 ? 1 : n> index{};
  int live = 0;
  std::size_t default_index = n;
  std::size_t i = 0;
  (
      [&](auto& cs) {
        if constexpr (std::decay_t<decltype(cs)>::is_default) {
          default_index = i;
        } else {
          sc[static_cast<std::size_t>(live)] = cs.make();
          index[static_cast<std::size_t>(live++)] = i;
        }
        ++i;
      }(cases),
      ...);
  bool received = false;
  int r = detail::selectgo(sc.data(), live, ndefault == 0, &received);
  std::size_t chosen = r < 0 ? default_index : index[static_cast<std::size_t>(r)];
  i = 0;
  (
      [&](auto& cs) {
        if (i++ == chosen) cs.fire(received);
      }(cases),
      ...);
  return chosen;
}

// A case of the dynamic select, built from anything recv/send/default_case
// return: `cases.push_back(goro::recv(ch, out))`. A vector of cases may be
// selected on again: a send case sends a fresh copy of its value each time
// (a move-only value is sent once, later selects send the moved-from value).
class select_case {
 public:
  template <class Case, class = std::enable_if_t<detail::is_case<std::decay_t<Case>>>>
  select_case(Case&& cs)  // NOLINT: implicit by design
      : impl_(std::make_unique<holder<std::decay_t<Case>>>(std::forward<Case>(cs))) {}

  bool is_default() const noexcept { return impl_->is_default(); }

  struct base {
    virtual ~base() = default;
    virtual detail::scase prepare() = 0;
    virtual void fire(bool received) = 0;
    virtual bool is_default() const noexcept = 0;
  };
  base& impl() noexcept { return *impl_; }

 private:
  template <class Case>
  struct holder final : base {
    explicit holder(Case cs) : cs(std::move(cs)) {}
    Case cs;
    detail::scase prepare() override {
      if constexpr (Case::is_default) return {};
      else return cs.make();
    }
    void fire(bool received) override { cs.fire(received); }
    bool is_default() const noexcept override { return Case::is_default; }
  };
  template <class T, class H>
  struct holder<detail::send_case<T, H>> final : base {
    explicit holder(detail::send_case<T, H> cs) : cs(std::move(cs)) {}
    detail::send_case<T, H> cs;
    using value_type = std::conditional_t<std::is_void_v<T>, char, T>;
    std::optional<value_type> work;
    detail::scase prepare() override {
      if constexpr (std::is_void_v<T> || !std::is_copy_constructible_v<value_type>) {
        return cs.make();
      } else {
        work.emplace(cs.value);
        return {cs.c, std::addressof(*work), true};
      }
    }
    void fire(bool received) override { cs.fire(received); }
    bool is_default() const noexcept override { return false; }
  };
  std::unique_ptr<base> impl_;
};

// The dynamic select: like the variadic form over a run-time list of cases;
// returns the index in `cases`. An empty vector blocks forever.
std::size_t select(std::vector<select_case>& cases);

}  // namespace goro
