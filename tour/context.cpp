// Tour sections 50-55: the context package (seed chapter 4, "The context
// Package"), error propagation (chapter 5, "Error Propagation"), and
// x/sync's errgroup and semaphore.
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <goro/goro.hpp>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "tour.hpp"

using namespace std::chrono_literals;

namespace {

// Go's `defer f()` for the examples.
template <class F>
struct defer {
  F f;
  ~defer() { f(); }
};
template <class F>
defer(F) -> defer<F>;

// ---- 50, 51: greeting and farewell ------------------------------------------

// Takes a minute to find out the locale, unless ctx is cancelled first.
std::pair<std::string, goro::error> locale(goro::context ctx) {
  goro::error err;
  goro::select(goro::recv(ctx.done(), [&] { err = ctx.err(); }),
               goro::recv(goro::after(1min)));
  if (err) return {"", err};
  return {"EN/US", {}};
}

// The second version: gives up at once if ctx's deadline leaves no time for
// the minute locale() needs.
std::pair<std::string, goro::error> locale_checking_deadline(goro::context ctx) {
  if (auto deadline = ctx.deadline(); deadline && *deadline - (goro::clock::now() + 1min) <= 0s)
    return {"", goro::deadline_exceeded};
  return locale(ctx);
}

using locale_fn = std::pair<std::string, goro::error> (*)(goro::context);

std::pair<std::string, goro::error> gen_greeting(goro::context ctx, locale_fn loc) {
  auto [c, cancel] = goro::with_timeout(ctx, 1s);
  defer d{cancel};
  auto [l, err] = loc(c);
  if (err) return {"", err};
  if (l == "EN/US") return {"hello", {}};
  return {"", goro::new_error("unsupported locale")};
}

std::pair<std::string, goro::error> gen_farewell(goro::context ctx, locale_fn loc) {
  auto [l, err] = loc(ctx);
  if (err) return {"", err};
  if (l == "EN/US") return {"goodbye", {}};
  return {"", goro::new_error("unsupported locale")};
}

goro::error print_greeting(goro::context ctx, locale_fn loc) {
  auto [greeting, err] = gen_greeting(ctx, loc);
  if (err) return err;
  std::printf("%s world!\n", greeting.c_str());
  return {};
}

goro::error print_farewell(goro::context ctx, locale_fn loc) {
  auto [farewell, err] = gen_farewell(ctx, loc);
  if (err) return err;
  std::printf("%s world!\n", farewell.c_str());
  return {};
}

void greet_and_farewell(locale_fn loc) {
  goro::run([loc] {
    auto start = goro::clock::now();
    goro::wait_group wg;
    auto [ctx, cancel] = goro::with_cancel(goro::background());
    defer d{cancel};

    wg.go([&, ctx = ctx, cancel = cancel] {
      if (goro::error err = print_greeting(ctx, loc)) {
        std::printf("cannot print greeting: %s\n", err.message().c_str());
        cancel();  // the farewell is pointless now
      }
    });
    wg.go([&, ctx = ctx] {
      if (goro::error err = print_farewell(ctx, loc))
        std::printf("cannot print farewell: %s\n", err.message().c_str());
    });
    wg.wait();
    std::printf("(took %.1f s)\n",
                std::chrono::duration<double>(goro::clock::now() - start).count());
  });
}

// ---- 53: error propagation ---------------------------------------------------

// Each module's errors have a kind. The intermediate module's are well-formed
// for users; the low-level module's are not (a user should never see them
// raw).
const goro::error_kind low_level_err("lowlevel");
const goro::error_kind intermediate_err("intermediate", /*user_facing=*/true);

// "lowlevel" module
std::pair<bool, goro::error> is_globally_exec(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    goro::error raw = goro::new_error("stat " + path + ": " + std::strerror(errno));
    return {false, goro::wrap(raw, low_level_err, "checking " + path)};
  }
  return {(info.st_mode & 0111) == 0111, {}};
}

// "intermediate" module, first version: lets the low-level error escape as is.
goro::error run_job_unwrapped(const std::string& /*id*/) {
  const std::string job_bin_path = "/bad/job/binary";
  auto [exec, err] = is_globally_exec(job_bin_path);
  if (err) return err;  // a low-level error escapes our module: a bug
  if (!exec) return goro::new_error("job binary is not executable");
  return {};
}

// Second version: wraps what it lets out in its own well-formed error.
goro::error run_job(const std::string& id) {
  const std::string job_bin_path = "/bad/job/binary";
  auto [exec, err] = is_globally_exec(job_bin_path);
  if (err)
    return goro::wrap(err, intermediate_err,
                      "cannot run job \"" + id + "\": requisite binaries not available");
  if (!exec)
    return goro::new_error(intermediate_err, "cannot run job \"" + id + "\": binary not executable");
  return {};
}

}  // namespace

GORO_TOUR_SECTION(50, "context: a 1 s timeout on the greeting cancels the farewell") {
  // The book's example: genGreeting gives locale a 1 s timeout; locale takes a
  // minute, so the greeting fails with "deadline exceeded", and
  // printGreeting's caller cancels the shared context, which stops the
  // farewell's locale call too ("canceled"). Takes about 1 s.
  greet_and_farewell(&locale);
}

GORO_TOUR_SECTION(51, "context: giving up early when the deadline cannot be met") {
  // locale looks at ctx.deadline(): with 1 s left it cannot finish its minute
  // of work, so it returns deadline_exceeded at once instead of waiting 1 s.
  greet_and_farewell(&locale_checking_deadline);
}

GORO_TOUR_SECTION(52, "context: request-scoped values") {
  // Keys are typed objects compared by identity: no collisions between
  // packages, and no casts when reading.
  static const goro::context_key<std::string> user_id_key("userID");
  static const goro::context_key<std::string> auth_token_key("authToken");
  auto handle_response = [](goro::context ctx) {
    std::printf("handling response for %s (%s)\n", ctx.value(user_id_key)->c_str(),
                ctx.value(auth_token_key)->c_str());
  };
  auto process_request = [&](std::string user_id, std::string auth_token) {
    goro::context ctx = goro::with_value(goro::background(), user_id_key, std::move(user_id));
    ctx = goro::with_value(ctx, auth_token_key, std::move(auth_token));
    handle_response(ctx);
  };
  process_request("jane", "abc123");
}

GORO_TOUR_SECTION(53, "errors: propagation across module boundaries") {
  // The seed's lowlevel / intermediate example. The full record (message,
  // cause chain, UTC time, host, stacks) goes to the log under an id; the user
  // sees one line with the same id. Logged to stdout here, as the seed does.
  std::printf("-- the intermediate module lets a low-level error escape (a bug):\n");
  if (goro::error err = run_job_unwrapped("1")) goro::handle_error(err, std::cout, std::cout);
  std::printf("-- the intermediate module wraps it in its own well-formed error:\n");
  if (goro::error err = run_job("1")) {
    goro::handle_error(err, std::cout, std::cout);
    std::printf("is(err, lowlevel cause): %s\n",
                goro::is(err, goro::find_kind(err, low_level_err)) ? "true" : "false");
  }
}

GORO_TOUR_SECTION(54, "errgroup: the first error cancels the rest") {
  goro::run([] {
    auto [g, ctx] = goro::errgroup::with_context(goro::background());
    const std::vector<std::pair<std::string, goro::clock::duration>> urls = {
        {"http://www.golang.org/", 300ms},
        {"http://www.google.com/", 400ms},
        {"http://www.somestupidname.com/", 10ms}};
    for (auto& [url, latency] : urls) {
      g.go([ctx = ctx, url = url, latency = latency]() -> goro::error {
        // A fake fetch: the bad host fails fast; the others stop when the
        // group's context is cancelled.
        if (url.find("stupid") != std::string::npos) {
          goro::sleep(latency);
          return goro::new_error("dial " + url + ": no such host");
        }
        goro::error err;
        goro::select(goro::recv(ctx.done(), [&] { err = ctx.err(); }),
                     goro::recv(goro::after(latency)));
        std::printf("fetch %s: %s\n", url.c_str(), err ? "abandoned" : "ok");
        return err;
      });
    }
    if (goro::error err = g.wait())
      std::printf("first error: %s (cause of ctx: %s)\n", err.message().c_str(),
                  goro::cause(ctx).message().c_str());
  });
}

GORO_TOUR_SECTION(55, "semaphore: bounding concurrent work, FIFO") {
  goro::run([] {
    // At most 3 workers at once, out of 8.
    goro::semaphore sem(3);
    std::atomic<int> active{0}, peak{0};
    goro::errgroup g;
    for (int job = 0; job < 8; ++job) {
      g.go([&]() -> goro::error {
        if (goro::error err = sem.acquire(goro::background())) return err;
        int now = active.fetch_add(1) + 1;
        for (int p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
        }
        goro::sleep(10ms);
        active.fetch_sub(1);
        sem.release();
        return {};
      });
    }
    (void)g.wait();
    std::printf("8 jobs, peak concurrency %d (limit 3)\n", peak.load());

    // A weighted acquire with a deadline: all 3 units are held, so it gives
    // up with the context's error and takes nothing.
    (void)sem.acquire(goro::background(), 3);
    auto [ctx, cancel] = goro::with_timeout(goro::background(), 20ms);
    goro::error err = sem.acquire(ctx, 2);
    std::printf("acquire(2) while full: %s\n", err.message().c_str());
    cancel();
    sem.release(3);
    std::printf("try_acquire(3) after release: %s\n", sem.try_acquire(3) ? "true" : "false");
  });
}
