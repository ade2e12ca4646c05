// The sync package (API.md §4): mutex, rw_mutex, wait_group, cond, once,
// pool<T>. One header per primitive under <goro/sync/>; this one includes all.
//
// Every blocking call here parks the calling goroutine (its OS thread goes on
// running other goroutines) and, called from a plain OS thread, blocks that
// thread; goroutines and plain threads may share any of these objects.
// They block through the runtime's semaphore and notify-list interface
// (src/sema.hpp, src/notify_list.hpp), as Go's sync does.
#pragma once

#include <goro/sync/cond.hpp>
#include <goro/sync/mutex.hpp>
#include <goro/sync/once.hpp>
#include <goro/sync/pool.hpp>
#include <goro/sync/rw_mutex.hpp>
#include <goro/sync/wait_group.hpp>
#include <goro/semaphore.hpp>
#include <goro/errgroup.hpp>
