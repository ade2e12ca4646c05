#!/bin/bash
# goro devbench: test stress + goro-vs-Go scaling on a bare many-core x86-64 box.
#   OUT=/some/dir bash devbench/run.sh        # results in $OUT/results.txt (+ stdout)
# Env: SMOKE=1   quick check (P in 1 2, --scale 0.02, no test stress, 1 rep)
#      BUDGET=S  hard wall-clock limit for the whole script in seconds (default 450)
# Every invocation runs under `timeout -k 2 T` with T = min(its cap, time left to its
# phase's deadline), so the script ends within BUDGET (+ a few seconds) whatever hangs.
# Built by bench/device/build.sh. goro/Go binaries are static; tbb_sbs runs via lib/ld-linux.
cd "$(dirname "$0")" || exit 1
D=$PWD
OUT=${OUT:-/tmp/devbench-out}
mkdir -p "$OUT"
O=$OUT/results.txt
T=$OUT/times.txt       # wall seconds of each invocation (for planning the next run)
: >"$O"; : >"$T"
START=$(date +%s)
BUDGET=${BUDGET:-450}
SMOKE=${SMOKE:-0}
SCALE=${SCALE:-1}
[ "$SMOKE" = 1 ] && SCALE=0.02
NCPU=$(nproc)

say() { echo "$*" | tee -a "$O"; }
now() { date +%s; }
# left DEADLINE_OFFSET: seconds left until START+offset (capped by BUDGET)
left() { local d=$1; [ "$d" -gt "$BUDGET" ] && d=$BUDGET; echo $((START + d - $(now))); }
# tmo CAP DEADLINE_OFFSET -> per-invocation timeout, or empty when no time is left
tmo() { local l; l=$(left "$2"); [ "$l" -gt "$1" ] && l=$1; [ "$l" -ge 3 ] && echo "$l"; }

say "== devbench $(date -u +%FT%TZ) smoke=$SMOKE scale=$SCALE budget=${BUDGET}s"
say "bundle: $(head -1 "$D/BUILD_INFO" 2>/dev/null)"
say "nproc=$NCPU kernel=$(uname -r) $(uname -m)"
say "cpu: $( (lscpu 2>/dev/null | sed -n 's/^Model name: *//p'; sed -n 's/^model name[^:]*: *//p' /proc/cpuinfo) | head -1)"
HAVE_TASKSET=1
command -v taskset >/dev/null || { HAVE_TASKSET=; say "WARNING: no taskset: benchmarks are NOT pinned"; }
lscpu 2>/dev/null | grep -E '^(CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|NUMA node\(s\)|CPU max MHz)' | sed 's/  */ /g' | tee -a "$O"
say "governor: $(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo n/a)"

# ---------------------------------------------------------------- b. test stress
TESTS_DL=170   # the test phase ends by START+170 s
if [ "$SMOKE" != 1 ]; then
  TD=$(mktemp -d 2>/dev/null || echo "$OUT/tests.d")
  mkdir -p "$TD" && tar -C "$TD" -xzf "$D/tests.tar.gz"
  say "== tests (static Release build)"
  for P in 16 4; do
    for tb in "$TD"/tests/*_test; do
      t=$(basename "$tb")
      to=$(tmo 60 $TESTS_DL) || true
      if [ -z "$to" ]; then say "test p=$P $t SKIPPED (test-phase budget spent)"; continue; fi
      f=FILTER_$t; args=(); [ -n "${!f}" ] && args=(--gtest_filter="${!f}")
      s=$(now)
      GOMAXPROCS=$P timeout -k 2 "$to" "$tb" "${args[@]}" >"$OUT/test_p${P}_$t.log" 2>&1
      rc=$?; e=$(($(now) - s))
      echo "test p=$P $t ${e}s rc=$rc" >>"$T"
      sum=$(grep -E '^\[  (PASSED|FAILED)  \]' "$OUT/test_p${P}_$t.log" | head -2 | tr '\n' ' ')
      if [ $rc = 0 ]; then
        say "test p=$P $t PASS ${e}s $sum"
      else
        what="rc=$rc"; [ $rc = 124 ] || [ $rc = 137 ] && what="TIMEOUT(${to}s)"
        say "test p=$P $t FAIL $what ${e}s $sum"
        { grep -vE '^\[ +(RUN|OK) +\]' "$OUT/test_p${P}_$t.log" | grep -E -A30 -m3 'Failure|FAILED|rror|bort|Segmentation|terminate|panic' | head -50
          echo "-- tail:"; tail -15 "$OUT/test_p${P}_$t.log"; } | sed 's/^/    | /' | tee -a "$O"
      fi
    done
  done
  rm -rf "$TD"
fi

# ---------------------------------------------------------------- benchmarks
# bench RUNTIME P ID DEADLINE_OFFSET [CAP]
bench() {
  local rt=$1 p=$2 id=$3 dl=$4 cap=${5:-40} bin to s e rc out
  case $rt in
    go) bin=("$D/bin/go_sbs") ;;
    tbb) bin=("$D/lib/ld-linux-x86-64.so.2" --library-path "$D/lib" "$D/bin/tbb_sbs") ;;
    goro) case $id in
        pingpong|buffered_1p1c|contended_4p4c|close_broadcast|sieve|pipeline) bin=("$D/bin/bench_sbs_chan") ;;
        select2|select2_unbuf|select_default) bin=("$D/bin/bench_sbs_select") ;;
        mutex8|rwmutex_read|waitgroup|with_cancel|mutex_uncontended|pool_parallel) bin=("$D/bin/bench_sbs_sync") ;;
        ctx_cancel_10k|timer_reset|error_create) bin=("$D/bin/bench_sbs_time") ;;
        *) bin=("$D/bin/bench_sbs_sched") ;;
      esac ;;
  esac
  to=$(tmo "$cap" "$dl") || true
  if [ -z "$to" ]; then say "$rt p=$p SKIPPED $id (budget)"; return; fi
  local pin=(); [ -n "$HAVE_TASKSET" ] && pin=(taskset -c "0-$((p - 1))")
  s=$(date +%s%N)
  out=$(GOMAXPROCS=$p timeout -k 2 "$to" "${pin[@]}" "${bin[@]}" --only "$id" --procs "$p" --scale "$SCALE" 2>&1)
  rc=$?
  e=$(( ($(date +%s%N) - s) / 1000000 )); e=$((e / 1000)).$(printf %03d $((e % 1000)))
  echo "$rt p=$p $id ${e}s rc=$rc" >>"$T"
  echo "$out" | grep -E '^(BENCH|PENDING)' | sed "s/^/$rt p=$p /" | tee -a "$O"
  if [ $rc != 0 ]; then
    say "$rt p=$p ERROR $id rc=$rc$([ $rc = 124 ] && echo " timeout ${to}s")"
    echo "$out" | grep -vE '^(BENCH|PENDING)' | tail -8 | sed 's/^/    | /' | tee -a "$O"
  fi
}

# ---------------------------------------------------------------- c. scaling
SCAL_DL=390
PS="1 2 4 8 16"; [ "$SMOKE" = 1 ] && PS="1 2"
IDS="mutex8 rwmutex_read pool_parallel waitgroup contended_4p4c pipeline spawn skynet fib30 yield pingpong close_broadcast ctx_cancel_10k"
say "== scaling (taskset -c 0-(P-1), GOMAXPROCS=P, 1 rep, goro then Go per id)"
for P in $PS; do
  if [ "$P" -gt "$NCPU" ]; then say "p=$P SKIPPED (only $NCPU cpus)"; continue; fi
  for id in $IDS; do
    bench goro "$P" "$id" $SCAL_DL
    [ "$id" = fib30 ] && bench goro "$P" fib30_go $SCAL_DL
    bench go "$P" "$id" $SCAL_DL
    [ "$id" = fib30 ] && bench tbb "$P" fib30 $SCAL_DL
  done
done

# ---------------------------------------------------------------- d. P=2 repeats
P2_DL=$BUDGET
REPS=3; [ "$SMOKE" = 1 ] && REPS=1
say "== p=2 repeats (taskset -c 0-1, $REPS reps, goro then Go)"
for id in mutex_uncontended pool_parallel mutex8 rwmutex_read yield bare_switch; do
  for r in $(seq $REPS); do
    bench goro 2 "$id" $P2_DL
    [ "$id" != bare_switch ] && bench go 2 "$id" $P2_DL
  done
done
say "DONE in $(($(now) - START))s"
