// goro::clock: the steady (monotonic) clock all goro durations and deadlines use.
#pragma once

#include <chrono>

namespace goro {

using clock = std::chrono::steady_clock;

}  // namespace goro
