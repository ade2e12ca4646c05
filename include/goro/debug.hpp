// Seeing inside a running program: goroutine dumps (Go's SIGQUIT traceback).
#pragma once

#include <iosfwd>

namespace goro {

// Writes every live goroutine: id, state and wait reason ("chan receive",
// "select", "sleep", "sync.Mutex.Lock", ...), how long it has waited, the
// stack of a parked goroutine (and of the caller), and where it was created:
//
//   goroutine 7 [chan receive, 2 minutes]:
//    0# worker(goro::chan<int>) at app.cpp:12
//    ...
//   created by main::{lambda()#1} in goroutine 1
//
// A goroutine running on another thread at that moment is listed without a
// stack. Safe to call from any goroutine or thread at any time. The same dump
// is printed on a panic, on a detected deadlock, and on SIGQUIT (unless the
// environment has GORO_SIGQUIT=0 or set_sigquit_dump(false) was called; a
// SIGQUIT dump then ends the process, as Go's does).
void dump_goroutines(std::ostream& out);

// Enables/disables the SIGQUIT handler (enabled when the runtime starts).
void set_sigquit_dump(bool enabled);

}  // namespace goro
