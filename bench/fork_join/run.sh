#!/usr/bin/env bash
# bench/fork_join/run.sh — the seed's chapter 6 table ("Stealing Tasks or
# Continuations?") in numbers: recursive fib(N) with a task per call, on
# GOMAXPROCS Ps/workers, for
#   goro child-first   goro::task_group (continuation stealing)
#   goro parent-first  goro::go + goro::wait_group (Go's order, task stealing)
#   oneTBB             tbb::task_group (run-to-completion tasks, not stackful)
#   Go                 a goroutine per call + sync.WaitGroup
# Each runs in its own process (so ru_maxrss is its own): min and median of RUNS
# timed runs after a warm-up.
#
# Usage: bench/fork_join/run.sh [N=30] [RUNS=5]     env: GOMAXPROCS (default 2),
#        BUILD_DIR (default build-fj), CXX (default g++), GO (default go),
#        BIN_DIR (default $BUILD_DIR/fork_join), SKIP_BUILD=1 (run binaries already
#        in BIN_DIR, e.g. copied to another machine with libtbb.so.12 beside them)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
N=${1:-30}
RUNS=${2:-5}
export GOMAXPROCS=${GOMAXPROCS:-2}
build=${BUILD_DIR:-$root/build-fj}
CXX=${CXX:-g++}
GO=${GO:-go}
out=${BIN_DIR:-$build/fork_join}
mkdir -p "$out"
export LD_LIBRARY_PATH="$out${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
echo "== building (goro Release in $build)" >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGORO_BUILD_TESTS=OFF \
  -DGORO_BUILD_TOUR=OFF -DGORO_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j2 --target goro >/dev/null
$CXX -O2 -DNDEBUG -std=c++20 -I"$root/include" -I"$root/src" "$here/goro_fib.cpp" \
  "$build/src/libgoro.a" -Wl,-Bstatic -lboost_context -lboost_stacktrace_backtrace -Wl,-Bdynamic \
  -lbacktrace -ldl -pthread -o "$out/goro_fib"
$CXX -O2 -DNDEBUG -std=c++20 "$here/tbb_fib.cpp" -ltbb -pthread -o "$out/tbb_fib"
(cd "$here/go" && CGO_ENABLED=0 $GO build -o "$out/go_fib" .)
fi

echo "== fib($N), GOMAXPROCS=$GOMAXPROCS, $RUNS runs each ($(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
results=$(
  "$out/goro_fib" child-first "$N" "$RUNS"
  "$out/goro_fib" parent-first "$N" "$RUNS"
  "$out/tbb_fib" "$N" "$RUNS"
  "$out/go_fib" "$N" "$RUNS"
)

echo "$results" | awk -v n="$N" -v procs="$GOMAXPROCS" '
  { name[NR] = $1; min[NR] = $3; med[NR] = $4; peak[NR] = $5; rss[NR] = $6
    if ($1 == "tbb") tbb = $3; if ($1 == "go") go = $3; if ($1 == "child-first") cf = $3 }
  END {
    label["child-first"] = "goro task_group (child-first)"
    label["parent-first"] = "goro go+wait_group (parent-first)"
    label["tbb"] = "oneTBB task_group"
    label["go"] = "Go goroutine+WaitGroup"
    printf "fib(%d), one task per call, %d Ps\n", n, procs
    printf "%-34s %9s %9s %8s %8s %13s %11s\n", "", "min ms", "median ms", "vs TBB", "vs Go", "peak live Gs", "peak RSS MiB"
    for (i = 1; i <= NR; ++i)
      printf "%-34s %9.1f %9.1f %7.2fx %7.2fx %13s %11.1f\n", label[name[i]], min[i], med[i],
             min[i] / tbb, min[i] / go, peak[i], rss[i] / 1024
    printf "\nchild-first: %.2fx oneTBB (target <= 2), %.1fx faster than Go (target >= 5)\n", cf / tbb, go / cf
  }'
