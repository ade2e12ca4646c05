// Goroutine dumps.
//
// A parked goroutine's stack is walked on that stack itself: the dumper
// ontop-jumps into the goroutine's saved context, captures the frames below it
// with Boost.Stacktrace, and jumps straight back, leaving a small frame on top
// of the goroutine's stack that forwards the next resumption to where the
// goroutine really parked. Meanwhile its status is g_dumping, which makes
// ready() wait, so no M can switch into the stack while it is borrowed.
#include <signal.h>
#include <unistd.h>

#include <boost/stacktrace.hpp>
#include <cinttypes>
#include <cstdio>
#include <goro/debug.hpp>
#include <iostream>
#include <sstream>
#include <vector>

#include "runtime.hpp"
#include "sanitizer.hpp"
#include "switch.hpp"

namespace goro::detail {
namespace {

namespace ctx = boost::context::detail;

struct capture_args {
  boost::stacktrace::stacktrace* trace;
};

ctx::transfer_t capture_on_top(ctx::transfer_t t) {
  auto* a = static_cast<capture_args*>(t.data);
  *a->trace = boost::stacktrace::stacktrace(0, 64);
  // Back to the dumper. We resume here when the goroutine is next switched
  // to; returning then hands that switch's transfer to the goroutine's
  // original suspension point, as if we had never been here.
  return ctx::jump_fcontext(t.fctx, nullptr);
}

std::string describe_wait(const G* gp, std::uint32_t status) {
  std::string s;
  switch (status) {
    case g_runnable: return "runnable";
    case g_running: return "running";
    case g_idle: return "runnable";
    default: break;
  }
  s = wait_reason_string(gp->reason.load(std::memory_order_relaxed));
  std::int64_t since = gp->wait_since.load(std::memory_order_relaxed);
  std::int64_t mins = (coarse_nanotime() - since) / 60'000'000'000LL;
  if (since != 0 && mins >= 1) s += ", " + std::to_string(mins) + (mins == 1 ? " minute" : " minutes");
  return s;
}

void print_creator(std::ostream& out, const G* gp) {
  if (gp->created_pc == nullptr) return;
  boost::stacktrace::frame f(gp->created_pc);
  out << "created by " << f.name();
  std::string file = f.source_file();
  if (!file.empty()) out << " at " << file << ":" << f.source_line();
  if (gp->parent_id != 0) out << " in goroutine " << gp->parent_id;
  out << "\n";
}

}  // namespace

void dump_one(std::ostream& out, G* gp, bool is_self) {
  std::uint32_t st = gp->status.load(std::memory_order_acquire);
  if (st == g_dead || (st == g_idle && gp->invoke.load(std::memory_order_relaxed) == nullptr)) return;
  out << "goroutine " << gp->id << " [" << (is_self ? "running" : describe_wait(gp, st)) << "]:\n";
  if (is_self) {
    out << boost::stacktrace::stacktrace(2, 64);
  } else if (st == g_waiting && !san::asan && !san::tsan) {
    std::uint32_t expected = g_waiting;
    if (gp->status.compare_exchange_strong(expected, g_dumping, std::memory_order_acq_rel)) {
      boost::stacktrace::stacktrace trace(0, 0);
      capture_args a{&trace};
      ctx::transfer_t t = ctx::ontop_fcontext(gp->ctx, &a, &capture_on_top);
      gp->ctx = t.fctx;  // the forwarding frame
      gp->status.store(g_waiting, std::memory_order_release);
      out << trace;
    } else {
      out << " (stack unavailable: woken while dumping)\n";
    }
  } else if (st == g_waiting) {
    out << " (stacks of parked goroutines are not walked in sanitizer builds)\n";
  } else {
    out << " (stack unavailable: not parked)\n";
  }
  print_creator(out, gp);
  out << "\n";
}

void dump_all(std::ostream& out, bool include_self) {
  std::vector<G*> gs;
  allgs_snapshot(gs);
  M* m = current_m();
  G* self = (m && !m->curg->is_g0) ? m->curg : nullptr;
  if (self && include_self) dump_one(out, self, true);
  for (G* gp : gs)
    if (gp != self) dump_one(out, gp, false);
}

namespace {
std::atomic<bool> sigquit_enabled{true};
void on_sigquit(int) {
  if (!sigquit_enabled.load()) {
    signal(SIGQUIT, SIG_DFL);
    raise(SIGQUIT);
    return;
  }
  // Not async-signal-safe in general (it allocates); Go's SIGQUIT is a
  // last-resort debugging aid that ends the process, and so is this.
  std::ostringstream out;
  out << "SIGQUIT: quit\n\n";
  dump_all(out, true);
  std::string s = out.str();
  if (::write(2, s.data(), s.size()) < 0) {
  }
  _exit(2);
}
}  // namespace

void install_sigquit() {
  if (const char* e = std::getenv("GORO_SIGQUIT"); e && std::string(e) == "0") return;
  struct sigaction sa {};
  sa.sa_handler = on_sigquit;
  sa.sa_flags = SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  struct sigaction old {};
  sigaction(SIGQUIT, nullptr, &old);
  if (old.sa_handler == SIG_DFL) sigaction(SIGQUIT, &sa, nullptr);  // never steal a user's handler
}

}  // namespace goro::detail

namespace goro {

void dump_goroutines(std::ostream& out) { detail::dump_all(out, true); }

void set_sigquit_dump(bool enabled) { detail::sigquit_enabled.store(enabled); }

}  // namespace goro
