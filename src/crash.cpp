// Fatal error reporting.
//
// A panic is an exception escaping a goroutine. No frame below a goroutine's
// function has a handler, so the C++ runtime finds none in its search phase and
// calls std::terminate *without unwinding*: our terminate handler then runs on
// top of the throwing frame and can print the stack of the throw, as Go does.
//
// A stack overflow faults in a guard page (or trips the canary check on a
// switch, for stacks made after the guard budget ran out, see stack.hpp); the
// SIGSEGV handler runs on an alternate signal stack and names the goroutine.
#include "crash.hpp"

#include <signal.h>
#include <unistd.h>

#include <boost/stacktrace.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <sstream>

#include "runtime.hpp"
#include "switch.hpp"

namespace goro::detail {
namespace {

std::terminate_handler previous_terminate = nullptr;
struct sigaction previous_segv {};
struct sigaction previous_bus {};

void write_str(const char* s) {
  std::size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = ::write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Async-signal-safe decimal formatting.
void write_u64(std::uint64_t v) {
  char buf[24];
  int i = sizeof buf;
  buf[--i] = '\0';
  do {
    buf[--i] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  write_str(buf + i);
}

[[noreturn]] void on_terminate() {
  M* m = current_m();
  G* gp = m ? m->curg : nullptr;
  if (gp == nullptr || gp->is_g0) {
    if (previous_terminate) previous_terminate();
    std::abort();
  }
  std::string what = "unknown exception";
  if (std::exception_ptr ep = std::current_exception()) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = std::string(e.what()) + " [" + typeid(e).name() + "]";
    } catch (...) {
      what = "non-std::exception value";
    }
  } else {
    what = "std::terminate called";
  }
  std::ostringstream out;
  out << "panic: " << what << "\n\ngoroutine " << gp->id << " [running]:\n"
      << boost::stacktrace::stacktrace() << "\n";
  dump_all(out, /*include_self=*/false);
  std::string s = out.str();
  write_str(s.c_str());
  std::abort();
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  M* m = current_m();
  G* gp = m ? m->curg : nullptr;
  if (gp && gp->stk && stack_guard_hit(gp->stk, info->si_addr,
                                       static_cast<std::size_t>(sysconf(_SC_PAGESIZE)))) {
    write_str("goroutine ");
    write_u64(gp->id);
    write_str(": stack overflow (stack size ");
    write_u64(gp->stk->size());
    write_str(" bytes; raise it with GORO_STACK_SIZE or goro::set_stack_size)\n");
    signal(SIGABRT, SIG_DFL);
    std::abort();
  }
  // Not ours: hand over to whoever was there before, or crash as usual.
  const struct sigaction& prev = sig == SIGSEGV ? previous_segv : previous_bus;
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) {
      prev.sa_sigaction(sig, info, uctx);
      return;
    }
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler) {
    prev.sa_handler(sig);
    return;
  }
  signal(sig, SIG_DFL);  // returning re-executes the fault, which now kills us
}

}  // namespace

void crash_install() {
  previous_terminate = std::set_terminate(on_terminate);
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &previous_segv);
  sigaction(SIGBUS, &sa, &previous_bus);
}

void crash_install_thread() {
  // Never freed: Ms live for the whole process.
  std::size_t size = 64 * 1024;
  stack_t ss{};
  ss.ss_sp = std::malloc(size);
  ss.ss_size = size;
  ss.ss_flags = 0;
  sigaltstack(&ss, nullptr);
}

[[noreturn]] void report_stack_overflow(const G* gp) {
  write_str("goroutine ");
  write_u64(gp->id);
  write_str(": stack overflow (stack pointer below the stack at a switch; stack size ");
  write_u64(gp->stk ? gp->stk->size() : 0);
  write_str(" bytes)\n");
  std::abort();
}

const char* wait_reason_string(wait_reason r) {
  switch (r) {
    case wait_reason::none: return "runnable";
    case wait_reason::chan_receive: return "chan receive";
    case wait_reason::chan_send: return "chan send";
    case wait_reason::chan_receive_nil: return "chan receive (nil chan)";
    case wait_reason::chan_send_nil: return "chan send (nil chan)";
    case wait_reason::select: return "select";
    case wait_reason::select_no_cases: return "select (no cases)";
    case wait_reason::sleep: return "sleep";
    case wait_reason::sync_mutex: return "sync.Mutex.Lock";
    case wait_reason::sync_rw_mutex_r: return "sync.RWMutex.RLock";
    case wait_reason::sync_rw_mutex_w: return "sync.RWMutex.Lock";
    case wait_reason::sync_cond: return "sync.Cond.Wait";
    case wait_reason::sync_wait_group: return "sync.WaitGroup.Wait";
    case wait_reason::sync_once: return "sync.Once.Do";
    case wait_reason::semacquire: return "semacquire";
    case wait_reason::run_main: return "goro.run";
  }
  return "?";
}

}  // namespace goro::detail
