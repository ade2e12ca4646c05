// Command sbs is Go's side of goro's side-by-side benchmark suite (bench/compare).
//
// It speaks the same protocol as the C++ programs (bench/common/sbs.hpp):
//
//	-list            print the workload ids, one a line
//	-only ID[,ID..]  run only these workloads (compare runs one workload per process)
//	-procs N         runtime.GOMAXPROCS(N); by default GOMAXPROCS comes from the environment
//	-scale F         multiply the op counts of per-op workloads (quick smoke runs)
//
// and prints "BENCH <id> <value> <unit>" lines. Standard library only; build with
// `go build` (no dependencies) or GO111MODULE=off.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

var (
	onlyFlag  = flag.String("only", "", "comma-separated workload ids to run (default: all)")
	listFlag  = flag.Bool("list", false, "list workload ids and exit")
	procsFlag = flag.Int("procs", 0, "GOMAXPROCS (default: the environment's)")
	scaleFlag = flag.Float64("scale", 1, "multiply the op counts of per-op workloads")
)

type workload struct {
	id  string
	run func()
}

// Order matters only for -list and for runs without -only.
var workloads = []workload{
	{"pingpong", benchPingPong},
	{"buffered_1p1c", benchBuffered1P1C},
	{"contended_4p4c", benchContended4P4C},
	{"select2", benchSelect2},
	{"select2_unbuf", benchSelect2Unbuf},
	{"select_default", benchSelectDefault},
	{"close_broadcast", benchCloseBroadcast},
	{"spawn", benchSpawn},
	{"yield", benchYield},
	{"skynet", benchSkynet},
	{"skynet_rss", benchSkynetRSS},
	{"sieve", benchSieve},
	{"mutex8", benchMutex8},
	{"sleep100k", benchSleep100k},
	{"sleep100k_rss", benchSleep100kRSS},
	{"parked_rss_100k", func() { benchParkedRSS("parked_rss_100k", 100_000) }},
	{"parked_rss_1m", func() { benchParkedRSS("parked_rss_1m", 1_000_000) }},
	{"fib30", benchFib30},
	{"pipeline", benchPipeline},
	{"rwmutex_read", benchRWMutexRead},
	{"waitgroup", benchWaitGroup},
	{"with_cancel", benchWithCancel},
	{"mutex_uncontended", benchMutexUncontended},
	{"pool_parallel", benchPoolParallel},
	{"ctx_cancel_10k", benchCtxCancel10k},
	{"timer_reset", benchTimerReset},
	{"error_create", benchErrorCreate},
}

func report(id string, value float64, unit string) {
	fmt.Printf("BENCH %s %.6g %s\n", id, value, unit)
}

func fail(id string, format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "FAIL %s: %s\n", id, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// scaled is a per-op workload's op count under -scale (never below 1).
func scaled(base int) int {
	n := int(float64(base) * *scaleFlag)
	if n < 1 {
		n = 1
	}
	return n
}

// perOp runs a warm-up pass at a tenth of the size, then the timed pass, and reports
// nanoseconds per operation.
func perOp(id, unit string, n int, run func(n int) time.Duration) {
	warm := n / 10
	if warm < 1 {
		warm = 1
	}
	run(warm)
	d := run(n)
	report(id, float64(d.Nanoseconds())/float64(n), unit)
}

// peakRSSKiB is getrusage(RUSAGE_SELF).ru_maxrss: KiB on Linux.
func peakRSSKiB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Maxrss
}

// currentRSSBytes reads the resident field of /proc/self/statm.
func currentRSSBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return resident * int64(os.Getpagesize())
}

func main() {
	flag.Parse()
	if *procsFlag > 0 {
		runtime.GOMAXPROCS(*procsFlag)
	}
	if *listFlag {
		for _, w := range workloads {
			fmt.Println(w.id)
		}
		return
	}
	want := map[string]bool{}
	if *onlyFlag != "" {
		for _, id := range strings.Split(*onlyFlag, ",") {
			if id == "" {
				continue
			}
			known := false
			for _, w := range workloads {
				known = known || w.id == id
			}
			if !known {
				fmt.Fprintf(os.Stderr, "unknown workload id: %s\n", id)
				os.Exit(2)
			}
			want[id] = true
		}
	}
	for _, w := range workloads {
		if len(want) == 0 || want[w.id] {
			w.run()
		}
	}
}
