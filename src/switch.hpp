// Switching between contexts (goroutines and an M's scheduler context).
//
// All switches go through switch_to(), which uses Boost.Context's
// ontop_fcontext so that a "post" action runs on the *target's* stack after
// the source context has been saved: this is where a parking goroutine's
// unlockf runs (Go's park_m), where an exited goroutine's stack is freed, and
// where a yielding goroutine is put back on a run queue. Until post runs,
// nobody else can see the source G, so it cannot be resumed twice.
#pragma once

#include <cxxabi.h>

#include "runtime.hpp"
#include "sanitizer.hpp"

namespace __cxxabiv1 {
// Layout shared by libstdc++ and libc++abi.
struct __cxa_eh_globals {
  void* caughtExceptions;
  unsigned int uncaughtExceptions;
};
}  // namespace __cxxabiv1

namespace goro::detail {

using post_fn = void (*)(G* from, void* arg);

// Saves `from`'s thread state and context, jumps to `to`, and runs
// post(from, arg) on `to`'s stack before `to` continues. m is the current M
// (the switch happens on its thread; the caller read it from TLS since its
// last possible migration). Returns, when some later switch_to resumes
// `from`, the M that resumed it (perhaps on another thread): the current M
// from then on, without another TLS read. `from_exits`: from will never
// resume (its stack is released by post).
M* switch_to(M* m, G* from, G* to, post_fn post, void* arg, bool from_exits = false);

// A switch saves the thread's exception state and errno into the G leaving
// and loads the arriving G's. Both live in TLS (__cxa_get_globals and
// __errno_location are declared `const`, so a compiler may reuse their
// result across a call, i.e. across a migration): the M records their
// addresses on its own thread at start, and each switch finds them through
// the M it runs on (switch_to's caller read it from TLS after its last
// possible migration; on_top runs on the same thread).
inline void save_thread_state(M* m, G* gp) {
  auto* eh = static_cast<__cxxabiv1::__cxa_eh_globals*>(m->eh_globals);
  gp->ts.caught_exceptions = eh->caughtExceptions;
  gp->ts.uncaught_exceptions = eh->uncaughtExceptions;
  gp->ts.err = *m->errno_loc;
}

// switch_direct's on_top: t.data is from; the M is this thread's and its
// curg is the target. switch.cpp.
boost::context::detail::transfer_t on_top_direct(boost::context::detail::transfer_t t);

// switch_to with nothing to run after the save: the lean switch of a yield
// that swaps two goroutines on one P. m->curg must already be `to`, and from
// must be a goroutine with a stack that stays invisible to other Ms until
// it is saved (see yield). Same return value as switch_to. Inline: it is
// yield's whole switch.
inline M* switch_direct(M* m, G* from, G* to) {
  save_thread_state(m, from);
#if defined(GORO_ASAN)
  __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->asan_bottom, to->asan_size);
#endif
#if defined(GORO_TSAN)
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  auto t = boost::context::detail::ontop_fcontext(to->ctx, from, &on_top_direct);
  return static_cast<M*>(t.data);
}

// Prepares a never-run G's context on stack s (entry: goroutine_main).
void make_context(G* gp, stack* s);

// current_m(): runtime.hpp.

#if defined(GORO_TSAN)
void* tsan_fiber_get();
void tsan_fiber_put(void* fiber);
#endif
void set_current_m(M* m);

}  // namespace goro::detail
