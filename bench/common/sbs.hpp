// sbs.hpp — the side-by-side benchmark harness shared by goro's, Boost.Fiber's and
// oneTBB's programs (bench/goro/sbs_*.cpp, bench/peers/*.cpp). Header-only, no goro.
//
// Every program speaks the protocol bench/compare parses (bench/go/main.go speaks it too):
//   --list            print the workload ids this program knows, one a line, and exit
//   --only ID[,ID..]  run only these workloads (compare runs one workload per process)
//   --procs N         worker count for Boost.Fiber and oneTBB, and goro's and Go's P
//                     count (GOMAXPROCS); without it, GOMAXPROCS from the environment
//   --scale F         multiply the op counts of per-op workloads (quick smoke runs)
// and prints, one line per figure:
//   BENCH <id> <value> <unit>
//   PENDING <id> <reason>
// Any other output is ignored by compare. A failed self-check prints to stderr and
// exits non-zero: a wrong answer must never be reported as a figure.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

namespace sbs {

struct options {
  std::vector<std::string> only;  // empty: all
  bool list = false;
  int procs = 0;                  // 0: from GOMAXPROCS, else hardware threads
  bool procs_given = false;       // --procs was passed (goro then sets its P count)
  double scale = 1.0;
};

inline options& opts() {
  static options o;
  return o;
}

[[noreturn]] inline void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--list] [--only ID[,ID...]] [--procs N] [--scale F]\n", argv0);
  std::exit(2);
}

inline void split_ids(const std::string& s, std::vector<std::string>& out) {
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t comma = s.find(',', start);
    if (comma == std::string::npos) comma = s.size();
    if (comma > start) out.push_back(s.substr(start, comma - start));
    start = comma + 1;
  }
}

// Accepts --flag value, --flag=value, and the single-dash forms Go's flag package takes.
inline options& parse(int argc, char** argv) {
  options& o = opts();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) == 0) a.erase(0, 1);
    std::string value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a.erase(eq);
      has_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_value) return value;
      if (i + 1 >= argc) usage(argv[0]);
      return argv[++i];
    };
    if (a == "-list") {
      o.list = true;
    } else if (a == "-only") {
      split_ids(next(), o.only);
    } else if (a == "-procs") {
      o.procs = std::atoi(next().c_str());
      o.procs_given = o.procs > 0;
    } else if (a == "-scale") {
      o.scale = std::atof(next().c_str());
      if (!(o.scale > 0)) usage(argv[0]);
    } else {
      usage(argv[0]);
    }
  }
  if (o.procs <= 0) {
    if (const char* env = std::getenv("GOMAXPROCS"); env && std::atoi(env) > 0)
      o.procs = std::atoi(env);
    else
      o.procs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  return o;
}

inline bool selected(const std::string& id) {
  const auto& only = opts().only;
  return only.empty() || std::find(only.begin(), only.end(), id) != only.end();
}

// Op count for per-op workloads, scaled by --scale (never below 1).
inline std::size_t scaled(std::size_t base) {
  double n = static_cast<double>(base) * opts().scale;
  return n < 1 ? 1 : static_cast<std::size_t>(n);
}

inline void report(const std::string& id, double value, const char* unit) {
  std::printf("BENCH %s %.6g %s\n", id.c_str(), value, unit);
  std::fflush(stdout);
}

inline void pending(const std::string& id, const char* reason) {
  std::printf("PENDING %s %s\n", id.c_str(), reason);
  std::fflush(stdout);
}

[[noreturn]] inline void fail(const std::string& id, const std::string& what) {
  std::fprintf(stderr, "FAIL %s: %s\n", id.c_str(), what.c_str());
  std::fflush(stderr);
  std::_Exit(1);
}

inline void check(bool ok, const std::string& id, const std::string& what) {
  if (!ok) fail(id, what);
}

class stopwatch {
 public:
  stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double ns() const {
    return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start_)
        .count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Peak resident set of this process so far, KiB (Linux reports ru_maxrss in KiB).
inline long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

// Current resident set, bytes: /proc/self/statm's second field, in pages.
inline long current_rss_bytes() {
  long size = 0, resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return resident * sysconf(_SC_PAGESIZE);
}

// A per-op figure: one warm-up pass at a tenth of the size, then the timed pass.
// `run(n)` returns the elapsed nanoseconds of n operations.
template <class Run>
void per_op(const std::string& id, const char* unit, std::size_t n, Run&& run) {
  run(std::max<std::size_t>(n / 10, 1));
  double ns = run(n);
  report(id, ns / static_cast<double>(n), unit);
}

struct workload {
  std::string id;
  std::function<void()> fn;  // prints its own BENCH/PENDING line(s)
};

inline void list(const std::vector<workload>& ws) {
  for (const auto& w : ws) std::printf("%s\n", w.id.c_str());
}

inline int unknown_ids(const std::vector<workload>& ws) {
  int bad = 0;
  for (const auto& id : opts().only) {
    bool known = std::any_of(ws.begin(), ws.end(), [&](const workload& w) { return w.id == id; });
    if (!known) {
      std::fprintf(stderr, "unknown workload id: %s\n", id.c_str());
      ++bad;
    }
  }
  return bad;
}

inline void run_selected(const std::vector<workload>& ws) {
  for (const auto& w : ws)
    if (selected(w.id)) w.fn();
}

}  // namespace sbs
