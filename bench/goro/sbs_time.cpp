// goro's side of the context-wakeup, timer and error workloads: [ctx_cancel_10k]
// [timer_reset] [error_create]. Each mirrors bench/go/time.go line for line; see
// docs/performance.md.
#include <chrono>
#include <cstddef>
#include <string>

#include <goro/goro.hpp>

#include "sbs_main.hpp"

namespace {

using namespace std::chrono_literals;

double ctx_cancel_round(int waiters) {
  auto [ctx, cancel] = goro::with_cancel(goro::background());
  goro::wait_group ready, done;
  ready.add(waiters);
  done.add(waiters);
  for (int i = 0; i < waiters; ++i)
    goro::go([c = ctx, &ready, &done] {
      ready.done();
      (void)c.done().recv();  // false: closed
      done.done();
    });
  ready.wait();
  goro::sleep(20ms);  // the last ones get from done() to parked
  sbs::stopwatch sw;
  cancel();
  done.wait();
  double ns = sw.ns();
  sbs::check(goro::is(ctx.err(), goro::canceled), "ctx_cancel_10k", "not canceled");
  return ns;
}

void ctx_cancel_10k() {
  constexpr int waiters = 10'000, rounds = 10;
  ctx_cancel_round(waiters);
  double total = 0;
  for (int r = 0; r < rounds; ++r) total += ctx_cancel_round(waiters);
  sbs::report("ctx_cancel_10k", total / rounds / 1e3, "us");
}

// reset(1h) on one active timer: every reset must find it active (returns true).
double timer_reset(std::size_t n) {
  goro::timer t(1h);
  std::size_t active = 0;
  sbs::stopwatch sw;
  for (std::size_t i = 0; i < n; ++i)
    if (t.reset(1h)) ++active;
  double ns = sw.ns();
  t.stop();
  sbs::check(active == n, "timer_reset", "reset found the timer inactive");
  return ns;
}

// Creates the error depth frames below its caller, so that the capture walks a
// realistic stack. Not inlined and not a tail call: each level keeps its frame, as
// Go's does.
[[gnu::noinline]] goro::error error_at(int depth, const char* msg) {
  if (depth == 0) return goro::new_error(msg);
  goro::error e = error_at(depth - 1, msg);
  asm volatile("" ::: "memory");
  return e;
}

double error_create(std::size_t n) {
  goro::error last;
  sbs::stopwatch sw;
  for (std::size_t i = 0; i < n; ++i) last = error_at(8, "bench error");
  double ns = sw.ns();
  // The capture is real: at least the 9 error_at frames and this one (symbolized
  // here, once, outside the timing).
  std::string trace = last.stack_trace();
  std::size_t frames = 0;
  for (char ch : trace) frames += ch == '\n';
  sbs::check(last && last.message() == "bench error" && frames >= 10, "error_create",
             "no stack captured");
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  return sbs::goro_main(
      argc, argv,
      {
          {"ctx_cancel_10k", ctx_cancel_10k},
          {"timer_reset",
           [] { sbs::per_op("timer_reset", "ns/op", sbs::scaled(1'000'000), timer_reset); }},
          {"error_create",
           [] { sbs::per_op("error_create", "ns/op", sbs::scaled(200'000), error_create); }},
      });
}
