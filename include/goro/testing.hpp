// Leak checking for tests (uber-go/goleak's idea). The seed: "The garbage
// collector does nothing to collect goroutines that have been abandoned" —
// so tests should prove their goroutines end.
//
//   auto before = goro::testing::current_goroutines();
//   ... code under test ...
//   goro::testing::verify_no_leaks(before);   // throws leak_error listing leaks
#pragma once

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <goro/clock.hpp>

namespace goro::testing {

// The goroutines alive at one moment (by id), to be ignored by a later check.
struct goroutine_set {
  std::vector<std::uint64_t> ids;
};
goroutine_set current_goroutines();

// Waits up to `grace` for every goroutine that is not in `ignore` (and is not
// the caller) to exit. Returns "" if they all did, else a dump of the ones
// still alive (see goro::dump_goroutines), each with its wait reason, stack
// and creation site.
std::string find_leaks(const goroutine_set& ignore = {},
                       clock::duration grace = std::chrono::seconds(1));

class leak_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// find_leaks, throwing leak_error("found N leaked goroutine(s):\n<dump>") if any.
void verify_no_leaks(const goroutine_set& ignore = {},
                     clock::duration grace = std::chrono::seconds(1));

}  // namespace goro::testing
