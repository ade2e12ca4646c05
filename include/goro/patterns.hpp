// Channel patterns (API.md §9; the seed's chapter 4: the or-channel, or-done,
// tee, bridge, fan-in, and the pipeline stages generator, repeat, repeat_fn,
// take, map, filter).
//
//   goro::chan<void> done = goro::make_chan<void>();
//   auto doubled = goro::map(done, goro::generator(done, 1, 2, 3), [](int v) { return 2 * v; });
//   for (int v : goro::take(done, doubled, 2)) ...   // 2, 4
//   done.close();                                    // every stage ends
//
// The cancellation contract. Every function taking `done` starts (at most) one
// goroutine and returns a fresh unbuffered channel that this goroutine owns and
// closes when it ends. It ends, closing its output(s), when
//  * its input is exhausted (closed and drained; `take`: after n values), or
//  * `done` is closed (or a value is received from it): every blocking step,
//    receive and send alike, is a select that also receives from `done`, so a
//    stage blocked sending to a consumer that stopped reading ends too. `done`
//    is checked before each step, so once it is closed a stage does not start
//    on another value.
// No goroutine outlives its cancellation: close `done` and every stage built
// on it ends without anybody draining its output. A nil `done` never fires;
// such a stage ends only through its input.
//
// Values are moved through the stages (move-only T works), except where a
// value must be duplicated: `tee` and `repeat` copy, so they need a copyable T.
// An exception thrown by a user callable (map's fn, filter's pred, repeat_fn's
// fn) escapes the stage's goroutine and is a panic, as in Go.
//
// The functions take recv_chan<...> as API.md lists them; overloads accepting
// chan<...> are provided too, since a chan<T> does not deduce T for a
// recv_chan<T> parameter.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include <goro/chan.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>

namespace goro {

namespace detail {

// Closes a stage's output when its goroutine ends (Go's `defer close(out)`).
template <class T>
struct close_on_exit {
  send_chan<T>& c;
  ~close_on_exit() { c.close(); }
};

// True if `done` is ready: closed, or holding a signal (consumed).
inline bool done_ready(recv_chan<void>& done) { return done.try_recv() != -1; }

// Receives from `in` unless `done` fires first. Returns false if done fired;
// otherwise `v` holds the value, or nullopt if `in` is closed and drained.
template <class T, class C>
bool recv_or_done(recv_chan<void>& done, C& in, std::optional<T>& v) {
  v.reset();
  return goro::select(goro::recv(in, v), goro::recv(done)) == 0;
}

// Sends v on `out` unless `done` fires first. Returns false if done fired.
template <class T>
bool send_or_done(recv_chan<void>& done, send_chan<T>& out, T&& v) {
  return goro::select(goro::send(out, std::move(v)), goro::recv(done)) == 0;
}

template <class T>
recv_chan<T> closed_chan() {
  auto c = make_chan<T>();
  c.close();
  return c;
}

// Starts a stage: one goroutine running body(out) on a fresh unbuffered
// channel, closed when body returns (or throws).
template <class R, class Body>
recv_chan<R> stage(Body body) {
  auto out = make_chan<R>();
  go([body = std::move(body), out = send_chan<R>(out)]() mutable {
    close_on_exit<R> guard{out};
    body(out);
  });
  return out;
}

// The loop of every one-input stage: receives the values of `in` (a channel
// of T) and hands each to f(T&&), which returns false to stop; done is
// checked before each step. True if `in` was exhausted, false if done fired
// or f stopped.
template <class T, class C, class F>
bool for_each_or_done(recv_chan<void>& done, C& in, F&& f) {
  for (;;) {
    if (done_ready(done)) return false;
    std::optional<T> v;
    if (!recv_or_done(done, in, v)) return false;
    if (!v) return true;
    if (!f(std::move(*v))) return false;
  }
}

// generator's and repeat's values, converted to T, in order.
template <class T, class... Ts>
std::vector<T> values_of(T first, Ts... rest) {
  static_assert((std::is_constructible_v<T, Ts&&> && ...), "goro: values must convert to T");
  std::vector<T> values;
  values.reserve(1 + sizeof...(Ts));
  values.push_back(std::move(first));
  (values.push_back(T(std::move(rest))), ...);
  return values;
}

// The bridge over a stream of channel handles S (recv_chan<T> or chan<T>).
template <class T, class S>
recv_chan<T> bridge_impl(recv_chan<void> done, recv_chan<S> streams) {
  return stage<T>([done = std::move(done), streams = std::move(streams)](send_chan<T>& out) mutable {
    for_each_or_done<S>(done, streams, [&](S&& s) {
      recv_chan<T> stream(std::move(s));
      // Exhausted: on to the next stream.
      return for_each_or_done<T>(done, stream, [&](T&& v) { return send_or_done(done, out, std::move(v)); });
    });
  });
}

}  // namespace detail

// The or-channel: combines several done channels into one that is closed as
// soon as any of them is closed (or delivers a signal). Nil channels never
// fire and are ignored; with no channel left the result is the nil channel
// (never closed, as Go's `or()` of nothing), with one it is that channel
// itself. Otherwise one goroutine waits on all of them with the dynamic
// select — not one goroutine per channel — and ends when it closes the
// result. (There is no `done` here: the goroutine lives until an input fires.)
inline recv_chan<void> or_channel(std::vector<recv_chan<void>> chans) {
  chans.erase(std::remove_if(chans.begin(), chans.end(), [](const recv_chan<void>& c) { return !c; }),
              chans.end());
  if (chans.empty()) return {};
  if (chans.size() == 1) return std::move(chans.front());
  return detail::stage<void>([chans = std::move(chans)](send_chan<void>&) {
    std::vector<select_case> cases;
    cases.reserve(chans.size());
    for (const auto& c : chans) cases.push_back(goro::recv(c));
    goro::select(cases);
  });
}

// or-done: the values of c until c is exhausted or done fires. Lets a
// consumer range over a channel it does not control and still stop on done.
template <class T>
recv_chan<T> or_done(recv_chan<void> done, recv_chan<T> c) {
  return detail::stage<T>([done = std::move(done), c = std::move(c)](send_chan<T>& out) mutable {
    detail::for_each_or_done<T>(done, c, [&](T&& v) { return detail::send_or_done(done, out, std::move(v)); });
  });
}
template <class T>
recv_chan<T> or_done(recv_chan<void> done, chan<T> c) {
  return or_done(std::move(done), recv_chan<T>(std::move(c)));
}

// tee: every value of `in` is sent on both outputs (a copy to one, the
// original to the other, in whichever order the consumers are ready), before
// the next value is received; so the slower consumer paces both. Both outputs
// are closed when `in` is exhausted or done fires. T must be copyable.
template <class T>
std::pair<recv_chan<T>, recv_chan<T>> tee(recv_chan<void> done, recv_chan<T> in) {
  static_assert(std::is_copy_constructible_v<T>, "goro::tee needs a copyable T");
  auto out1 = make_chan<T>();
  auto out2 = make_chan<T>();
  go([done = std::move(done), in = std::move(in), o1 = send_chan<T>(out1),
      o2 = send_chan<T>(out2)]() mutable {
    detail::close_on_exit<T> g1{o1};
    detail::close_on_exit<T> g2{o2};
    detail::for_each_or_done<T>(done, in, [&](T&& v) {
      // First to whichever output is ready (a copy), then the original to the other.
      std::size_t k = goro::select(goro::recv(done), goro::send(o1, v), goro::send(o2, v));
      return k != 0 && detail::send_or_done(done, k == 1 ? o2 : o1, std::move(v));
    });
  });
  return {recv_chan<T>(std::move(out1)), recv_chan<T>(std::move(out2))};
}
template <class T>
std::pair<recv_chan<T>, recv_chan<T>> tee(recv_chan<void> done, chan<T> in) {
  return tee(std::move(done), recv_chan<T>(std::move(in)));
}

// bridge: flattens a channel of channels. Receives a stream from `streams`,
// forwards its values until it is exhausted, then takes the next stream; the
// output is closed when `streams` is exhausted or done fires. (A nil stream
// never ends: the bridge then waits for done, as Go's does.)
template <class T>
recv_chan<T> bridge(recv_chan<void> done, recv_chan<recv_chan<T>> streams) {
  return detail::bridge_impl<T, recv_chan<T>>(std::move(done), std::move(streams));
}
template <class T>
recv_chan<T> bridge(recv_chan<void> done, chan<recv_chan<T>> streams) {
  return detail::bridge_impl<T, recv_chan<T>>(std::move(done), recv_chan<recv_chan<T>>(std::move(streams)));
}
template <class T>
recv_chan<T> bridge(recv_chan<void> done, recv_chan<chan<T>> streams) {
  return detail::bridge_impl<T, chan<T>>(std::move(done), std::move(streams));
}
template <class T>
recv_chan<T> bridge(recv_chan<void> done, chan<chan<T>> streams) {
  return detail::bridge_impl<T, chan<T>>(std::move(done), recv_chan<chan<T>>(std::move(streams)));
}

// fan_in: multiplexes several channels into one, in no particular order (a
// ready input is picked at random, as select does). One goroutine serves all
// inputs with the dynamic select — not one per input. The output is closed
// when every input is exhausted (at once for no inputs) or done fires. A nil
// input never ends, so with one the output closes only on done.
template <class T>
recv_chan<T> fan_in(recv_chan<void> done, std::vector<recv_chan<T>> chans) {
  return detail::stage<T>([done = std::move(done), chans = std::move(chans)](send_chan<T>& out) mutable {
    std::optional<T> v;
    std::vector<select_case> cases;
    cases.reserve(chans.size() + 1);
    cases.push_back(goro::recv(done));
    for (const auto& c : chans) cases.push_back(goro::recv(c, v));
    while (cases.size() > 1) {
      if (detail::done_ready(done)) return;
      v.reset();
      std::size_t k = goro::select(cases);
      if (k == 0) return;
      if (!v) {  // input k is exhausted: drop its case
        if (k != cases.size() - 1) std::swap(cases[k], cases.back());
        cases.pop_back();
        continue;
      }
      if (!detail::send_or_done(done, out, std::move(*v))) return;
    }
  });
}
template <class T>
recv_chan<T> fan_in(recv_chan<void> done, std::vector<chan<T>> chans) {
  return fan_in(std::move(done), std::vector<recv_chan<T>>(chans.begin(), chans.end()));
}
template <class T>
recv_chan<T> fan_in(recv_chan<void> done, std::initializer_list<recv_chan<T>> chans) {
  return fan_in(std::move(done), std::vector<recv_chan<T>>(chans));
}
template <class T>
recv_chan<T> fan_in(recv_chan<void> done, std::initializer_list<chan<T>> chans) {
  return fan_in(std::move(done), std::vector<recv_chan<T>>(chans.begin(), chans.end()));
}

// ---------------------------------------------------------------------------
// Pipeline stages (the seed's "pipelines").

// generator: sends first, rest... (each converted to T) once, in order, then
// closes its output.
template <class T, class... Ts>
recv_chan<T> generator(recv_chan<void> done, T first, Ts... rest) {
  return detail::stage<T>([done = std::move(done), values = detail::values_of<T>(std::move(first), std::move(rest)...)](
                              send_chan<T>& out) mutable {
    for (T& v : values) {
      if (detail::done_ready(done)) return;
      if (!detail::send_or_done(done, out, std::move(v))) return;
    }
  });
}

// repeat: sends first, rest..., first, rest..., ... (copies) until done
// fires. T must be copyable.
template <class T, class... Ts>
recv_chan<T> repeat(recv_chan<void> done, T first, Ts... rest) {
  static_assert(std::is_copy_constructible_v<T>, "goro::repeat needs a copyable T");
  return detail::stage<T>([done = std::move(done), values = detail::values_of<T>(std::move(first), std::move(rest)...)](
                              send_chan<T>& out) mutable {
    for (;;) {
      for (const T& v : values) {
        if (detail::done_ready(done)) return;
        if (!detail::send_or_done(done, out, T(v))) return;
      }
    }
  });
}

// repeat_fn: sends fn(), fn(), ... until done fires. fn is called on the
// stage's goroutine, once per value, and not again once done has fired.
template <class F>
recv_chan<std::remove_cvref_t<std::invoke_result_t<F&>>> repeat_fn(recv_chan<void> done, F fn) {
  using R = std::remove_cvref_t<std::invoke_result_t<F&>>;
  static_assert(!std::is_void_v<R>, "goro::repeat_fn: fn must return a value");
  return detail::stage<R>([done = std::move(done), fn = std::move(fn)](send_chan<R>& out) mutable {
    for (;;) {
      if (detail::done_ready(done)) return;
      R v = std::invoke(fn);
      if (!detail::send_or_done(done, out, std::move(v))) return;
    }
  });
}

// take: the first n values of `in` (fewer if `in` is exhausted first), then
// closes its output. It stops receiving after n values: the rest of `in` is
// left for others (an endless producer ends on its own done). n == 0: a
// closed channel, and no goroutine.
template <class T>
recv_chan<T> take(recv_chan<void> done, recv_chan<T> in, std::size_t n) {
  if (n == 0) return detail::closed_chan<T>();
  return detail::stage<T>([done = std::move(done), in = std::move(in), n](send_chan<T>& out) mutable {
    std::size_t sent = 0;
    detail::for_each_or_done<T>(done, in, [&](T&& v) {
      return detail::send_or_done(done, out, std::move(v)) && ++sent < n;
    });
  });
}
template <class T>
recv_chan<T> take(recv_chan<void> done, chan<T> in, std::size_t n) {
  return take(std::move(done), recv_chan<T>(std::move(in)), n);
}

// map: fn(v) for every value v of `in` (v is passed as an rvalue), in order.
template <class T, class F>
recv_chan<std::remove_cvref_t<std::invoke_result_t<F&, T>>> map(recv_chan<void> done, recv_chan<T> in, F fn) {
  using R = std::remove_cvref_t<std::invoke_result_t<F&, T>>;
  static_assert(!std::is_void_v<R>, "goro::map: fn must return a value");
  return detail::stage<R>([done = std::move(done), in = std::move(in), fn = std::move(fn)](send_chan<R>& out) mutable {
    detail::for_each_or_done<T>(done, in, [&](T&& v) {
      R r = std::invoke(fn, std::move(v));
      return detail::send_or_done(done, out, std::move(r));
    });
  });
}
template <class T, class F>
recv_chan<std::remove_cvref_t<std::invoke_result_t<F&, T>>> map(recv_chan<void> done, chan<T> in, F fn) {
  return map(std::move(done), recv_chan<T>(std::move(in)), std::move(fn));
}

// filter: the values v of `in` for which pred(v) is true (pred is called with
// a const T&), in order; the others are dropped.
template <class T, class P>
recv_chan<T> filter(recv_chan<void> done, recv_chan<T> in, P pred) {
  static_assert(std::is_invocable_v<P&, const T&>, "goro::filter: pred must take const T&");
  return detail::stage<T>([done = std::move(done), in = std::move(in), pred = std::move(pred)](send_chan<T>& out) mutable {
    detail::for_each_or_done<T>(done, in, [&](T&& v) {
      const T& cv = v;
      if (!static_cast<bool>(std::invoke(pred, cv))) return true;  // dropped
      return detail::send_or_done(done, out, std::move(v));
    });
  });
}
template <class T, class P>
recv_chan<T> filter(recv_chan<void> done, chan<T> in, P pred) {
  return filter(std::move(done), recv_chan<T>(std::move(in)), std::move(pred));
}

}  // namespace goro
