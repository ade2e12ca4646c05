// goro-tour: goroutines, channels, select and friends at work.
// Usage: goro-tour [section-number ...]   (no argument: every section)
#include <cstdlib>
#include <goro/goro.hpp>
#include <set>

#include "tour.hpp"

int main(int argc, char** argv) {
  std::set<int> only;
  for (int i = 1; i < argc; ++i) only.insert(std::atoi(argv[i]));
  std::printf("goro-tour: GOMAXPROCS=%d\n", goro::max_procs());
  for (auto& [order, s] : tour::sections()) {
    if (!only.empty() && !only.count(order)) continue;
    std::printf("\n== %d. %s ==\n", order, s.title.c_str());
    std::fflush(stdout);
    s.body();
    std::fflush(stdout);
  }
  std::printf("\ngoro-tour: done\n");
  return 0;
}
