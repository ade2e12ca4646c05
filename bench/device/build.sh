#!/bin/bash
# Builds the bundle for a lent many-core machine from the current source tree (run on
# the Debian 12 dev box), then: device `run` with carry ["devbench"] and the command
# `bash devbench/run.sh` (results in $OUT/results.txt; see run.sh for SMOKE/BUDGET).
#   bash bench/device/build.sh        # -> devbench/{bin,lib,tests.tar.gz,run.sh,BUILD_INFO}
# goro bench + test binaries: Release (-O3 -DNDEBUG, as bench/compare's build-bench/),
# fully static (-static, static Boost/gtest/libstdc++/glibc) in build-static/.
# go_sbs: CGO_ENABLED=0 go build (static). tbb_sbs: no libtbb.a on Debian, so it is a
# dynamic binary run through the bundled loader: lib/ld-linux-x86-64.so.2 + lib/*.so.
# (A static goro program captures errors with libgcc's unwinder: error.cpp sees no
# dynamic loader and does not dlopen libunwind.so.8, which crashed static programs
# before a000c85.)
# --eh-frame-hdr: without it _Unwind_Backtrace aborts in goro's init_priority(101)
# constructor (it runs before crtbeginT's frame registration).
set -euo pipefail
SRC=$(cd "$(dirname "$0")" && pwd)   # bench/device
REPO=$(cd "$SRC/../.." && pwd)
HERE=$REPO/devbench                   # the bundle (git-ignored); carry it to the device
mkdir -p "$HERE"
cp "$SRC/run.sh" "$HERE/run.sh"
B=$REPO/build-static
J=${JOBS:-$(nproc)}
BIN=$HERE/bin
LIB=$HERE/lib

# Stale bundle content (the older layout kept binaries next to run.sh).
rm -f "$HERE"/{goro_chan,goro_sched,goro_select,goro_sync,goro_fibwg,fiber_sbs,go_sbs,tbb_sbs,libtbb.so.12}
rm -rf "$BIN" "$LIB"
mkdir -p "$BIN" "$LIB"

echo "== goro (Release, static) in $B"
mkdir -p "$B"
cmake -S "$REPO" -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DGORO_BUILD_TESTS=ON -DGORO_BUILD_TOUR=OFF -DGORO_BUILD_BENCH=ON \
  -DBoost_USE_STATIC_LIBS=ON \
  -DCMAKE_EXE_LINKER_FLAGS="-static -Wl,--eh-frame-hdr" >"$B/devbench-configure.log" 2>&1 \
  || { cat "$B/devbench-configure.log"; exit 1; }
SBS=$(cd "$REPO/bench/goro" && ls sbs_*.cpp | sed 's/\.cpp$//; s/^/bench_/')
TESTS=$(cd "$REPO/tests" && ls *_test.cpp | sed 's/\.cpp$//')
cmake --build "$B" -j "$J" --target $SBS $TESTS >"$B/devbench-build.log" 2>&1 \
  || { grep -v "warning: Using" "$B/devbench-build.log" | tail -40; exit 1; }
for t in $SBS; do cp "$B/bench/$t" "$BIN/"; done
# Tests travel gzipped (13 static binaries of ~3.5 MB each); run.sh unpacks them.
rm -rf "$HERE/tests" "$HERE/tests.tar.gz"; mkdir -p "$HERE/tests"
for t in $TESTS; do cp "$B/tests/$t" "$HERE/tests/"; done

echo "== go_sbs (CGO_ENABLED=0)"
( cd "$REPO/bench/go" && CGO_ENABLED=0 GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    go build -trimpath -o "$BIN/go_sbs" . )

echo "== tbb_sbs (dynamic, bundled loader + libs)"
g++ -O2 -DNDEBUG -std=c++20 -I "$REPO/bench/common" "$REPO/bench/peers/tbb.cpp" \
  -o "$BIN/tbb_sbs" -ltbb -pthread -Wl,-rpath,'$ORIGIN/../lib'
for so in $(ldd "$BIN/tbb_sbs" | awk '/=>/ {print $3} /ld-linux/ {print $1}'); do
  cp -L "$so" "$LIB/"
done
# TBB dlopens its scalable allocator when present; bundle it for the same behaviour as here.
cp -L /usr/lib/x86_64-linux-gnu/libtbbmalloc.so.2 "$LIB/" 2>/dev/null || true

strip --strip-debug "$BIN"/bench_sbs_* "$HERE"/tests/* "$BIN/tbb_sbs"
tar -C "$HERE" -czf "$HERE/tests.tar.gz" tests && rm -rf "$HERE/tests"
{ echo "built $(date -u +%FT%TZ) from $(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src include bench tests CMakeLists.txt || echo '+uncommitted changes')"
  g++ --version | head -1; go version; } >"$HERE/BUILD_INFO"
echo "== bundle"
tar -tzf "$HERE/tests.tar.gz" | sed 's/^/  /'
for f in "$BIN"/*; do printf '%-22s %s\n' "$(basename "$f")" "$(file -b "$f" | cut -d, -f1-2,4)"; done
du -sh "$HERE"
