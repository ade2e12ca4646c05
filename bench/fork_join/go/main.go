// Go's side of bench/fork_join: fib(n) with one goroutine per call (n >= 2) and a
// sync.WaitGroup per join, the parent-first shape Go's `go` statement has.
//
// Usage: GOMAXPROCS=2 go run . [n=30] [runs=5]
// Prints one line: go n min_ms median_ms peak_goroutines peak_rss_kib
// Timed runs are uninstrumented; the peak live goroutine count comes from one
// extra run that counts goroutines started and not yet finished (exact, unlike
// sampling runtime.NumGoroutine). RSS is the process's ru_maxrss.
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func fib(n int) int {
	if n < 2 {
		return n
	}
	var a, b int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		a = fib(n - 1)
		wg.Done()
	}()
	b = fib(n - 2)
	wg.Wait()
	return a + b
}

var live, peak int64

func fibCounted(n int) int {
	if n < 2 {
		return n
	}
	var a, b int
	var wg sync.WaitGroup
	wg.Add(1)
	l := atomic.AddInt64(&live, 1)
	for p := atomic.LoadInt64(&peak); l > p && !atomic.CompareAndSwapInt64(&peak, p, l); p = atomic.LoadInt64(&peak) {
	}
	go func() {
		a = fibCounted(n - 1)
		atomic.AddInt64(&live, -1)
		wg.Done()
	}()
	b = fibCounted(n - 2)
	wg.Wait()
	return a + b
}

func fibSerial(n int) int {
	if n < 2 {
		return n
	}
	return fibSerial(n-1) + fibSerial(n-2)
}

func main() {
	n, runs := 30, 5
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		runs, _ = strconv.Atoi(os.Args[2])
	}
	want := fibSerial(n)
	w := n
	if w > 25 {
		w = 25
	}
	fib(w)
	var ms []float64
	for r := 0; r < runs; r++ {
		t0 := time.Now()
		got := fib(n)
		d := time.Since(t0)
		if got != want {
			fmt.Fprintf(os.Stderr, "wrong fib(%d)\n", n)
			os.Exit(1)
		}
		ms = append(ms, float64(d.Nanoseconds())/1e6)
	}
	if fibCounted(n) != want {
		os.Exit(1)
	}
	sort.Float64s(ms)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	// Goroutines fib started and not yet finished (the caller's not counted), as goro's.
	fmt.Printf("go %d %.1f %.1f %d %d\n", n, ms[0], ms[len(ms)/2], peak, ru.Maxrss)
}
