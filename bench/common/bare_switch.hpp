// bare_switch.hpp — the floor every stackful runtime here is measured against: a round
// trip (two jumps) between two Boost.Context fcontexts, with no scheduler at all.
// goro's target for [yield] is "within 2x of this". Needs -lboost_context.
#pragma once

#include <cstddef>
#include <cstdlib>

#include <boost/context/detail/fcontext.hpp>

#include "sbs.hpp"

namespace sbs {

namespace bare_detail {
namespace bcd = boost::context::detail;

inline void bounce(bcd::transfer_t t) {
  for (;;) t = bcd::jump_fcontext(t.fctx, t.data);  // suspended here forever at the end
}
}  // namespace bare_detail

// Nanoseconds for n round trips main -> fcontext -> main.
inline double bare_switch_ns(std::size_t n) {
  namespace bcd = boost::context::detail;
  constexpr std::size_t stack_size = 64 * 1024;
  void* stack = std::malloc(stack_size);
  bcd::fcontext_t ctx =
      bcd::make_fcontext(static_cast<char*>(stack) + stack_size, stack_size, bare_detail::bounce);
  bcd::transfer_t t = bcd::jump_fcontext(ctx, nullptr);  // first entry; it jumps straight back
  stopwatch sw;
  for (std::size_t i = 0; i < n; ++i) t = bcd::jump_fcontext(t.fctx, nullptr);
  double ns = sw.ns();
  std::free(stack);  // the bouncer never returns; nothing on its stack needs unwinding
  return ns;
}

inline void bare_switch_workload() { per_op("bare_switch", "ns/op", scaled(20'000'000), bare_switch_ns); }

}  // namespace sbs
