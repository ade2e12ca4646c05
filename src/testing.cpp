// Leak checks for tests: see include/goro/testing.hpp.
#include <algorithm>
#include <goro/testing.hpp>
#include <goro/time.hpp>
#include <sstream>

#include "runtime.hpp"
#include "switch.hpp"

namespace goro::testing {
namespace {

using detail::G;

bool alive(const G* g) {
  std::uint32_t st = g->status.load(std::memory_order_acquire);
  if (st == detail::g_dead) return false;
  if (st == detail::g_idle && g->invoke == nullptr) return false;  // free G
  return true;
}

std::vector<G*> leaked(const goroutine_set& ignore) {
  std::vector<G*> gs, out;
  detail::allgs_snapshot(gs);
  std::uint64_t self = goro::goroutine_id();
  for (G* g : gs) {
    if (!alive(g) || g->id == self) continue;
    if (std::find(ignore.ids.begin(), ignore.ids.end(), g->id) != ignore.ids.end()) continue;
    out.push_back(g);
  }
  return out;
}

}  // namespace

goroutine_set current_goroutines() {
  goroutine_set s;
  std::vector<G*> gs;
  detail::allgs_snapshot(gs);
  for (G* g : gs)
    if (alive(g)) s.ids.push_back(g->id);
  std::sort(s.ids.begin(), s.ids.end());
  return s;
}

std::string find_leaks(const goroutine_set& ignore, clock::duration grace) {
  auto deadline = clock::now() + grace;
  std::vector<G*> left;
  for (;;) {
    left = leaked(ignore);
    if (left.empty()) return "";
    if (clock::now() >= deadline) break;
    goro::sleep(std::chrono::milliseconds(5));
  }
  std::ostringstream out;
  for (G* g : left) detail::dump_one(out, g, false);
  return out.str();
}

void verify_no_leaks(const goroutine_set& ignore, clock::duration grace) {
  std::string report = find_leaks(ignore, grace);
  if (report.empty()) return;
  std::size_t n = 0;
  for (std::size_t pos = 0; (pos = report.find("goroutine ", pos)) != std::string::npos; ++pos)
    if (pos == 0 || report[pos - 1] == '\n') ++n;
  throw leak_error("found " + std::to_string(n) + " leaked goroutine(s):\n" + report);
}

}  // namespace goro::testing
