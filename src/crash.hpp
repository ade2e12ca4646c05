// Fatal errors: panics (exceptions escaping a goroutine), stack overflows.
#pragma once

namespace goro::detail {

// Process-wide: terminate handler (panic reports), SIGSEGV/SIGBUS handler.
void crash_install();
// Per M thread: an alternate signal stack, so a stack overflow can be reported.
void crash_install_thread();

}  // namespace goro::detail
