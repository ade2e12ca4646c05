// goro::panic_error — what goro throws where Go panics.
#pragma once

#include <stdexcept>
#include <string>

namespace goro {

// Thrown for misuse that Go panics on: send on a closed channel, close of a nil
// or closed channel, a negative wait_group counter, unlock of an unlocked mutex.
// Like a Go panic, it is fatal if it escapes a goroutine: the runtime prints
// `panic: <what()>` and the goroutine's stack, then aborts the process.
class panic_error : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace goro
