// Context switching: Boost.Context fcontext plus the per-thread state that
// must follow a goroutine (exception globals, errno) and the sanitizer hooks.
#include "switch.hpp"

#include <cxxabi.h>

#include <cerrno>
#include <mutex>
#include <vector>

#include "sanitizer.hpp"

namespace goro::detail {

namespace ctx = boost::context::detail;

// initial-exec: one %fs-relative load, not a __tls_get_addr call, even when
// goro is built position-independent (it is small, so fits the static TLS
// reserve if a shared libgoro is loaded late). Its assembler name is fixed
// for current_m's inline load (runtime.hpp).
[[gnu::tls_model("initial-exec")]] thread_local M* tls_m asm("goro_detail_tls_m") = nullptr;

namespace {

struct switch_rec {
  M* m;
  G* from;
  G* to;
  post_fn post;
  void* arg;
};

// Runs on the target's stack, before the target continues.
ctx::transfer_t on_top(ctx::transfer_t t) {
  auto* rec = static_cast<switch_rec*>(t.data);
  // rec lives on from's stack: copy it out before post makes from runnable.
  M* rec_m = rec->m;
  G* from = rec->from;
  G* to = rec->to;
  post_fn post = rec->post;
  void* arg = rec->arg;
  from->ctx = t.fctx;
  if (static_cast<const char*>(from->ctx) < from->sp_floor) [[unlikely]] report_stack_overflow(from);
#if defined(GORO_ASAN)
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(to->asan_fake_stack, &bottom, &size);
  if (from->is_g0 && from->asan_bottom == nullptr) {
    from->asan_bottom = bottom;
    from->asan_size = size;
  }
#endif
  if (post != nullptr) post(from, arg);
  load_thread_state(rec_m, to);
  // What the resumed switch_to returns, tagged: resumed inside this M's
  // runtime section (a fresh G's entry ignores it; see switch_direct).
  t.data = reinterpret_cast<void*>(reinterpret_cast<std::uintptr_t>(rec_m) | resumed_in_section);
  return t;
}

}  // namespace

ctx::transfer_t on_top_direct(ctx::transfer_t t) {
  auto* from = static_cast<G*>(t.data);
  if (static_cast<const char*>(t.fctx) < from->sp_floor) [[unlikely]] report_stack_overflow(from);
  __atomic_store_n(&from->ctx, t.fctx, __ATOMIC_RELEASE);  // saved: see saved_context
  // This thread's M: the P (and so p->m) may have changed hands meanwhile.
  M* m = current_m();
#if defined(GORO_ASAN)
  __sanitizer_finish_switch_fiber(m->curg->asan_fake_stack, nullptr, nullptr);
#endif
  t.data = m;
  return t;
}

#if !GORO_INLINE_CURRENT_M
M* current_m() {
  asm volatile("" ::: "memory");
  return tls_m;
}
#endif

#if defined(GORO_TSAN)
// TSan fibers are costly to create (milliseconds) and count against TSan's
// limit of 8128 threads, so exited goroutines hand theirs back for reuse.
namespace {
std::mutex& fiber_lock() {
  static std::mutex* m = new std::mutex;
  return *m;
}
std::vector<void*>& fiber_pool() {
  static std::vector<void*>* v = new std::vector<void*>;
  return *v;
}
}  // namespace
void* tsan_fiber_get() {
  {
    std::lock_guard lk(fiber_lock());
    if (!fiber_pool().empty()) {
      void* f = fiber_pool().back();
      fiber_pool().pop_back();
      return f;
    }
  }
  return __tsan_create_fiber(0);
}
void tsan_fiber_put(void* f) {
  std::lock_guard lk(fiber_lock());
  fiber_pool().push_back(f);
}
#endif
void set_current_m(M* m) {
  asm volatile("" ::: "memory");
  m->eh_globals = abi::__cxa_get_globals();
  m->errno_loc = &errno;
  tls_m = m;
}

void goroutine_main(ctx::transfer_t t);  // proc.cpp

void make_context(G* gp, stack* s) {
  gp->stk = s;
  gp->sp_floor = s->guarded ? nullptr : static_cast<const char*>(s->lo);
  gp->ctx = ctx::make_fcontext(s->hi, s->size(), &goroutine_main);
#if defined(GORO_ASAN)
  gp->asan_bottom = s->lo;
  gp->asan_size = s->size();
  gp->asan_fake_stack = nullptr;
#endif
#if defined(GORO_TSAN)
  if (gp->tsan_fiber == nullptr) gp->tsan_fiber = tsan_fiber_get();
#endif
}

M* switch_to(M* m, G* from, G* to, post_fn post, void* arg, bool from_exits) {
  save_thread_state(m, from);
  switch_rec rec{m, from, to, post, arg};
#if defined(GORO_ASAN)
  __sanitizer_start_switch_fiber(from_exits ? nullptr : &from->asan_fake_stack, to->asan_bottom,
                                 to->asan_size);
#else
  (void)from_exits;
#endif
#if defined(GORO_TSAN)
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
  ctx::transfer_t t = ctx::ontop_fcontext(saved_context(to), &rec, &on_top);
  // Resumed: our thread state is restored, on the thread of the M that
  // resumed us, inside its runtime section unless a yield swap resumed us:
  // it left its section before the jump, so enter one, as our caller (who
  // will leave it) expects.
  auto v = reinterpret_cast<std::uintptr_t>(t.data);
  M* rm = reinterpret_cast<M*>(v & ~resumed_in_section);
  if (!(v & resumed_in_section)) [[unlikely]] rt_enter_at(rm, 0);
  return rm;
}

}  // namespace goro::detail
