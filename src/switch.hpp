// Switching between contexts (goroutines and an M's scheduler context).
//
// All switches but one go through switch_to(), which uses Boost.Context's
// ontop_fcontext so that a "post" action runs on the *target's* stack after
// the source context has been saved: this is where a parking goroutine's
// unlockf runs (Go's park_m), where an exited goroutine's stack is freed, and
// where a yielding goroutine is put back on a run queue. Until post runs,
// nobody else can see the source G, so it cannot be resumed twice. The one
// exception is a yield's swap with its P's yield slot (switch_direct), whose
// source G is visible before its context is saved and marked so.
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

// A resumed context gets its resumer's M in transfer_t::data, with this bit
// set if it resumes inside that M's runtime section (every switch but a yield
// swap, which leaves its section before it jumps: see switch_direct).
inline constexpr std::uintptr_t resumed_in_section = 1;

// gp's saved context. Null while a yield swap is still saving it (after
// that swap left its runtime section, sysmon may hand the P, yield slot and
// all, to another M): wait the few instructions until it is stored.
inline fcontext_t saved_context(G* gp) {
  fcontext_t c;
  while ((c = __atomic_load_n(&gp->ctx, __ATOMIC_ACQUIRE)) == nullptr) cpu_relax();
  return c;
}

// The counterpart of save_thread_state: gp's state into this thread's.
inline void load_thread_state(M* m, G* gp) {
  auto* eh = static_cast<__cxxabiv1::__cxa_eh_globals*>(m->eh_globals);
  eh->caughtExceptions = static_cast<__cxxabiv1::__cxa_exception*>(gp->ts.caught_exceptions);
  eh->uncaughtExceptions = gp->ts.uncaught_exceptions;
  *m->errno_loc = gp->ts.err;
}

// switch_direct's on_top (switch.cpp): t.data is the G switched from.
boost::context::detail::transfer_t on_top_direct(boost::context::detail::transfer_t t);

// The lean switch of a yield that swaps two goroutines on p, the P m owns,
// called in a runtime section entered at depth 0: `from` is already in p's
// yield slot and `to` (whose saved context is to_ctx) already m->curg.
// Nothing else runs between the save and `to`'s resumption, so to's thread
// state is loaded before the jump, and the runtime section ends before it
// too: a store after a switch costs more than one before it (measured). From
// then on sysmon may take p, and the M it hands p to may find `from` in the
// slot before its context is saved: from->ctx is null until on_top_direct
// stores it, and saved_context waits for that. Nothing after the section's
// end touches p (it may be another M's by then). `to` resumes outside any
// section, or, if a switch_to resumed it, leaves the resumer's. Inline: it
// is yield's whole switch.
inline void switch_direct(M* m, G* from, G* to, fcontext_t to_ctx) {
  save_thread_state(m, from);
  load_thread_state(m, to);
  __atomic_store_n(&from->ctx, nullptr, __ATOMIC_RELAXED);
#if defined(GORO_TSAN)
  m->in_rt.store(0, std::memory_order_seq_cst);
#else
  m->in_rt.store(0, std::memory_order_release);  // after from->ctx's null: see saved_context
#endif
#if defined(GORO_ASAN)
  __sanitizer_start_switch_fiber(&from->asan_fake_stack, to->asan_bottom, to->asan_size);
#endif
#if defined(GORO_TSAN)
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#else
  (void)to;
#endif
  auto t = boost::context::detail::ontop_fcontext(to_ctx, from, &on_top_direct);
  auto v = reinterpret_cast<std::uintptr_t>(t.data);
  if (v & resumed_in_section) [[unlikely]] rt_exit(reinterpret_cast<M*>(v & ~resumed_in_section));
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
