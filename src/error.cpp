// goro::error records (include/goro/error.hpp).
//
// A record is created once and never changed, except for its symbolized
// stack, which is computed on first request under `sym_mu` and then read-only.
// Creation costs one allocation, two clock reads, an atomic increment and an
// unwind of the caller's stack into a fixed array of return addresses: no
// allocation, no symbol lookup. Boost.Stacktrace symbolizes them later
// (boost::stacktrace::frame, libbacktrace).
//
// The capture. libgcc's DWARF unwinder (_Unwind_Backtrace, what Boost.Stacktrace
// and std::stacktrace capture with) interprets each frame's CFI afresh:
// ~1,700 instructions, ~0.3 us per frame here, so 5 us at 16 frames. nongnu
// libunwind's unw_backtrace caches each return address's frame layout per
// thread and then walks a frame in a few dozen instructions (~12 ns). It is
// used when libunwind.so.8 can be loaded, with RTLD_LOCAL: linked normally,
// its own _Unwind_* would replace libgcc's for every exception thrown in the
// process. Otherwise (also in a -static program, which has no dynamic loader),
// or with GORO_ERROR_UNWINDER=libgcc, _Unwind_Backtrace
// is called directly from the (inlined) creating function: Boost's
// safe_dump_to would run the same unwinder under two wrapper frames of its own.
#include <goro/error.hpp>

#include <dlfcn.h>
#include <sys/auxv.h>
#include <unistd.h>
#include <unwind.h>

#include <atomic>
#include <boost/stacktrace.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <string_view>

#include "export_test.hpp"

namespace goro::detail {

// Return addresses kept per record. Deeper frames (the scheduler's entry,
// main's callers) are dropped.
inline constexpr std::size_t max_error_frames = 32;

struct error_rec {
  std::string text;                 // own message
  error cause;                      // wrapped error or nil
  const error_kind* kind = nullptr;
  clock::time_point when;
  std::chrono::system_clock::time_point when_utc;
  std::uint64_t seq = 0;            // id = prefix + seq
  std::uint32_t nframes = 0;
  void* frames[max_error_frames];   // raw return addresses, innermost first

  // The symbolized stack, filled on the first stack_trace(); guarded by sym_mu.
  mutable std::mutex sym_mu;
  mutable bool symbolized = false;
  mutable std::string symbols;

  static error make(std::shared_ptr<const error_rec> r) { return error(std::move(r)); }
  static const error_rec* of(const error& e) { return e.r_.get(); }
};

namespace {

std::uint32_t id_prefix() {
  static const std::uint32_t prefix = [] {
    std::random_device rd;
    std::uint64_t t = static_cast<std::uint64_t>(
        std::chrono::system_clock::now().time_since_epoch().count());
    return static_cast<std::uint32_t>(rd() ^ t ^ (t >> 32) ^ static_cast<std::uint64_t>(::getpid()));
  }();
  return prefix;
}

std::atomic<std::uint64_t> id_counter{0};

const std::string& host_name() {
  static const std::string name = [] {
    char buf[256];
    if (::gethostname(buf, sizeof buf) != 0) return std::string("unknown-host");
    buf[sizeof buf - 1] = '\0';
    return std::string(buf);
  }();
  return name;
}

struct unwind_state {
  void** out;
  std::uint32_t n;
  std::uint32_t skip;
};

_Unwind_Reason_Code collect_frame(_Unwind_Context* ctx, void* arg) {
  auto* st = static_cast<unwind_state*>(arg);
  if (st->skip > 0) {
    --st->skip;
    return _URC_NO_REASON;
  }
  if (st->n == max_error_frames) return _URC_END_OF_STACK;
  std::uintptr_t ip = _Unwind_GetIP(ctx);
  if (ip == 0) return _URC_END_OF_STACK;
  st->out[st->n++] = reinterpret_cast<void*>(ip);
  return _URC_NO_REASON;
}

// nongnu libunwind's unw_backtrace, or null (see the top of this file).
using backtrace_fn = int (*)(void** buffer, int size);
backtrace_fn libunwind_backtrace() {
  static const backtrace_fn fn = []() -> backtrace_fn {
    const char* force = std::getenv("GORO_ERROR_UNWINDER");
    if (force != nullptr && std::string_view(force) == "libgcc") return nullptr;
    // No dynamic loader (a -static program): dlopen there would map a second
    // libc beside the built-in one, and libunwind crashed in it at once.
    if (::getauxval(AT_BASE) == 0) return nullptr;
    void* lib = ::dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) return nullptr;
    return reinterpret_cast<backtrace_fn>(::dlsym(lib, "unw_backtrace"));
  }();
  return fn;
}

// Inlined into each public creator, so that the first frame the unwinder
// reports is that creator's (skipped) and the next its caller's.
[[gnu::always_inline]] inline error make_error(std::string text, error cause,
                                               const error_kind* kind) {
  auto r = std::make_shared<error_rec>();
  if (backtrace_fn bt = libunwind_backtrace()) {
    void* buf[max_error_frames + 1];
    int n = bt(buf, static_cast<int>(max_error_frames + 1));
    r->nframes = n > 1 ? static_cast<std::uint32_t>(n - 1) : 0;
    std::memcpy(r->frames, buf + 1, r->nframes * sizeof(void*));
  } else {
    unwind_state st{r->frames, 0, 1};
    _Unwind_Backtrace(&collect_frame, &st);
    r->nframes = st.n;
  }
  r->text = std::move(text);
  r->cause = std::move(cause);
  r->kind = kind;
  r->when = clock::now();
  r->when_utc = std::chrono::system_clock::now();
  r->seq = id_counter.fetch_add(1, std::memory_order_relaxed) + 1;
  return error_rec::make(std::move(r));
}

error make_sentinel(const char* text) { return make_error(text, {}, nullptr); }

std::string format_utc(std::chrono::system_clock::time_point tp) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(tp.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  if (ms < 0 && ms % 1000 != 0) --secs;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(((ms % 1000) + 1000) % 1000));
  return buf;
}

const std::string empty_string;

}  // namespace

const char* error_unwinder() { return libunwind_backtrace() != nullptr ? "libunwind" : "libgcc"; }
}  // namespace goro::detail

namespace goro {

using detail::error_rec;
using detail::make_error;
using detail::make_sentinel;

// Sentinels and the built-in kind are initialized before ordinary globals, so
// that other translation units' static initializers may use them.
__attribute__((init_priority(101))) const error_kind user_error_kind("user", true);
__attribute__((init_priority(101))) const error canceled = make_sentinel("context canceled");
__attribute__((init_priority(101))) const error deadline_exceeded =
    make_sentinel("context deadline exceeded");

std::string error::message() const {
  if (!r_) return {};
  if (!r_->cause) return r_->text;
  if (r_->text.empty()) return r_->cause.message();
  return r_->text + ": " + r_->cause.message();
}

const std::string& error::own_message() const { return r_ ? r_->text : detail::empty_string; }

error error::cause() const { return r_ ? r_->cause : error(); }

const error_kind* error::kind() const noexcept { return r_ ? r_->kind : nullptr; }

std::string error::stack_trace() const {
  if (!r_) return {};
  std::lock_guard lk(r_->sym_mu);
  if (!r_->symbolized) {
    std::ostringstream os;
    for (std::uint32_t i = 0; i < r_->nframes; ++i) {
      std::string line = boost::stacktrace::to_string(boost::stacktrace::frame(r_->frames[i]));
      // A goroutine's stack ends in the runtime's entry and Boost.Context's
      // trampoline: nothing for the reader (Go's traces stop there too).
      if (line.starts_with("goro::detail::goroutine_main")) break;
      os << (i < 10 ? " " : "") << i << "# " << line << '\n';
    }
    r_->symbols = os.str();
    r_->symbolized = true;
  }
  return r_->symbols;
}

clock::time_point error::when() const noexcept { return r_ ? r_->when : clock::time_point{}; }

std::chrono::system_clock::time_point error::when_utc() const noexcept {
  return r_ ? r_->when_utc : std::chrono::system_clock::time_point{};
}

std::string error::host() const { return r_ ? detail::host_name() : std::string(); }

std::string error::id() const {
  if (!r_) return {};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%llx", detail::id_prefix(),
                static_cast<unsigned long long>(r_->seq));
  return buf;
}

error new_error(std::string message) { return make_error(std::move(message), {}, nullptr); }
error new_error(const error_kind& kind, std::string message) {
  return make_error(std::move(message), {}, &kind);
}
error wrap(error cause, std::string message) {
  return make_error(std::move(message), std::move(cause), nullptr);
}
error wrap(error cause, const error_kind& kind, std::string message) {
  return make_error(std::move(message), std::move(cause), &kind);
}
error user_error(std::string message) {
  return make_error(std::move(message), {}, &user_error_kind);
}
error user_error(error cause, std::string message) {
  return make_error(std::move(message), std::move(cause), &user_error_kind);
}

bool is(const error& err, const error& target) {
  if (!target) return !err;
  for (const error_rec* r = error_rec::of(err); r != nullptr; r = error_rec::of(r->cause))
    if (r == error_rec::of(target)) return true;
  return false;
}

error find_kind(const error& err, const error_kind& kind) {
  for (error e = err; e; e = e.cause())
    if (e.kind() == &kind) return e;
  return {};
}

bool is_user_facing(const error& err) { return err && err.kind() && err.kind()->user_facing(); }

std::string error_record(const error& err) {
  if (!err) return "<nil>\n";
  std::ostringstream os;
  os << "error " << err.id() << ": " << err.message() << '\n';
  int depth = 0;
  for (error e = err; e; e = e.cause(), ++depth) {
    if (depth > 0) os << "caused by " << e.id() << ":\n";
    os << "  message: " << e.own_message() << '\n';
    if (e.kind()) os << "  kind:    " << e.kind()->name() << (e.kind()->user_facing() ? " (user-facing)" : "") << '\n';
    os << "  when:    " << detail::format_utc(e.when_utc()) << '\n';
    os << "  host:    " << e.host() << '\n';
    os << "  stack:\n";
    std::istringstream st(e.stack_trace());
    for (std::string line; std::getline(st, line);) os << "    " << line << '\n';
  }
  return os.str();
}

void handle_error(const error& err, std::ostream& log, std::ostream& user) {
  if (!err) return;
  const std::string id = err.id();
  std::string rec = error_record(err);
  // Prefix every line with the log id, as the seed's log.SetPrefix does.
  std::istringstream in(rec);
  for (std::string line; std::getline(in, line);) log << "[logID: " << id << "]: " << line << '\n';
  log.flush();
  if (is_user_facing(err))
    user << err.own_message() << " [" << id << "]\n";
  else
    user << "There was an unexpected issue; please report this as a bug. [" << id << "]\n";
  user.flush();
}

void handle_error(const error& err) { handle_error(err, std::clog, std::cout); }

std::ostream& operator<<(std::ostream& os, const error& err) {
  if (!err) return os << "<nil>";
  return os << err.message();
}

}  // namespace goro
