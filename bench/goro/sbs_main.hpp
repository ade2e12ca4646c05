// sbs_main.hpp — main() for goro's side of the side-by-side suite (bench/compare).
// The protocol is bench/common/sbs.hpp's; this adds only where each workload runs.
#pragma once

#include <utility>
#include <vector>

#include <goro/goro.hpp>

#include "sbs.hpp"

namespace sbs {

// `plain` workloads run first on the main thread, before anything starts goro's
// runtime (it starts lazily); the rest run inside goro::run's main goroutine, the way a
// Go program's workloads run in package main's goroutine.
inline int goro_main(int argc, char** argv, std::vector<workload> in_runtime,
                     std::vector<workload> plain = {}) {
  parse(argc, argv);
  std::vector<workload> all = plain;
  all.insert(all.end(), in_runtime.begin(), in_runtime.end());
  if (opts().list) {
    list(all);
    return 0;
  }
  if (unknown_ids(all)) return 2;
  run_selected(plain);
  bool any = false;
  for (const auto& w : in_runtime) any = any || selected(w.id);
  if (!any) return 0;
  // As Go's program does with -procs (bench/go/main.go); otherwise goro reads
  // GOMAXPROCS itself.
  if (opts().procs_given) goro::set_max_procs(opts().procs);
  return goro::run([&in_runtime] { run_selected(in_runtime); });
}

}  // namespace sbs
