// Switching between contexts (goroutines and an M's scheduler context).
//
// All switches go through switch_to(), which uses Boost.Context's
// ontop_fcontext so that a "post" action runs on the *target's* stack after
// the source context has been saved: this is where a parking goroutine's
// unlockf runs (Go's park_m), where an exited goroutine's stack is freed, and
// where a yielding goroutine is put back on a run queue. Until post runs,
// nobody else can see the source G, so it cannot be resumed twice.
#pragma once

#include "runtime.hpp"

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

// Prepares a never-run G's context on stack s (entry: goroutine_main).
void make_context(G* gp, stack* s);

// current_m(): runtime.hpp.

#if defined(GORO_TSAN)
void* tsan_fiber_get();
void tsan_fiber_put(void* fiber);
#endif
void set_current_m(M* m);

}  // namespace goro::detail
