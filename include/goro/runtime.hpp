// Goroutines and the runtime (API.md §1).
//
// A goroutine is a stackful coroutine multiplexed M:N onto OS threads by a
// G/M/P work-stealing scheduler (see docs/scheduler.md). The runtime starts
// lazily on first use; `GOMAXPROCS` in the environment sets the initial number
// of Ps (default: hardware threads) and `GORO_STACK_SIZE` the stack size.
//
// Thread identity: a goroutine may resume on a different OS thread after any
// blocking operation (channel op, select, sync primitive, sleep, yield). Values
// of your own `thread_local` variables may therefore change across such a call;
// goro saves and restores `errno` and the C++ exception-handling state with each
// goroutine, so those follow the goroutine.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <tuple>
#include <type_traits>
#include <utility>

#include <goro/panic.hpp>

namespace goro {
namespace detail {

struct G;

// Storage a new goroutine's closure lives in: inside the G when it fits
// (no allocation on the spawn path), else on the heap.
inline constexpr std::size_t inline_closure_size = 64;

// Allocates a G with room for a closure of `size` bytes aligned to `align`;
// returns the G and sets *storage to where the closure must be constructed.
G* new_goroutine(std::size_t size, std::size_t align, void** storage);
// Makes g runnable in Go's order: the child waits in the caller's runnext slot.
// `invoke(storage)` runs the closure and destroys it.
void start_goroutine(G* g, void (*invoke)(void*)) noexcept;

template <class Fn>
void spawn(Fn&& fn) {
  using F = std::decay_t<Fn>;
  void* mem;
  G* g = new_goroutine(sizeof(F), alignof(F), &mem);
  ::new (mem) F(std::forward<Fn>(fn));
  start_goroutine(g, [](void* p) {
    F* f = static_cast<F*>(p);
    struct destroy_on_exit {
      F* f;
      ~destroy_on_exit() { f->~F(); }
    } guard{f};
    (*f)();
  });
}

void run_main(std::function<int()> main_fn, int* result);

}  // namespace detail

// Go's `go f(args...)`: f and args are decay-copied (moved when rvalues) into
// the new goroutine, which runs concurrently with the caller. Like Go, the
// caller keeps running; the child is queued next on the caller's P.
// An exception escaping f is a panic: fatal for the process.
template <class F, class... Args>
void go(F&& f, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    detail::spawn(std::forward<F>(f));
  } else {
    detail::spawn([f = std::forward<F>(f),
                   tup = std::make_tuple(std::forward<Args>(args)...)]() mutable {
      std::apply(std::move(f), std::move(tup));
    });
  }
}

// Runs main_fn as a goroutine and blocks the calling thread until it returns.
// Returns main_fn's int result, or 0 for a void main_fn. Goroutines still alive
// when it returns keep running; returning from C++ main then ends the process
// as a Go program ends when its main returns.
template <class F>
int run(F&& main_fn) {
  int result = 0;
  if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
    detail::run_main(
        [&]() -> int {
          std::invoke(main_fn);
          return 0;
        },
        &result);
  } else {
    detail::run_main([&]() -> int { return static_cast<int>(std::invoke(main_fn)); }, &result);
  }
  return result;
}

void yield();                    // runtime.Gosched: let other goroutines run

namespace detail {
void enter_blocking();
void exit_blocking();
}  // namespace detail

// Runs f, a call known to block its thread (a system call, a blocking
// library call), and returns its result. Go's entersyscall/exitsyscall: if f
// takes longer than ~20 µs while other goroutines wait, the runtime hands this
// goroutine's P to another thread so they keep running; when f returns, the
// goroutine gets a P back (at once if nobody took it) or waits in the global
// run queue for one. Unannotated blocking calls and CPU loops are detected too,
// but only after ~10 ms (see docs/scheduler.md).
template <class F>
decltype(auto) blocking(F&& f) {
  struct scope {
    scope() { detail::enter_blocking(); }
    ~scope() { detail::exit_blocking(); }
  } s;
  return std::forward<F>(f)();
}
int max_procs();                 // GOMAXPROCS(0)
int set_max_procs(int n);        // resize at run time; returns the previous value
std::size_t num_goroutine();     // live goroutines
std::uint64_t goroutine_id();    // current goroutine's id; 0 on a plain thread
bool in_goroutine();

// Stack size of goroutines created from now on (bytes, rounded up to pages;
// default 256 KiB or GORO_STACK_SIZE). Stacks are reserved, not committed: a
// goroutine pays RSS only for the pages it touches.
std::size_t stack_size();
void set_stack_size(std::size_t bytes);

}  // namespace goro
