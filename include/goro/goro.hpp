// goro: Go's concurrency model for C++20. The umbrella header.
#pragma once

#include <goro/chan.hpp>
#include <goro/clock.hpp>
#include <goro/context.hpp>
#include <goro/debug.hpp>
#include <goro/errgroup.hpp>
#include <goro/error.hpp>
#include <goro/fork_join.hpp>
#include <goro/panic.hpp>
#include <goro/patterns.hpp>
#include <goro/rate.hpp>
#include <goro/runtime.hpp>
#include <goro/select.hpp>
#include <goro/semaphore.hpp>
#include <goro/time.hpp>
#include <goro/sync.hpp>
