package main

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// [spawn] spawn, run and exit empty goroutines that each call wg.Done(): ns per goroutine.
func benchSpawn() {
	perOp("spawn", "ns/op", scaled(1_000_000), func(n int) time.Duration {
		var wg sync.WaitGroup
		wg.Add(n)
		start := time.Now()
		for i := 0; i < n; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
		return time.Since(start)
	})
}

// [yield] two goroutines yielding to each other on GOMAXPROCS=1: ns per round trip
// (each goroutine yields n times; a round trip is two switches).
func benchYield() {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	perOp("yield", "ns/op", scaled(2_000_000), func(n int) time.Duration {
		var wg sync.WaitGroup
		wg.Add(2)
		start := time.Now()
		for g := 0; g < 2; g++ {
			go func() {
				for i := 0; i < n; i++ {
					runtime.Gosched()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		return time.Since(start)
	})
}

// [skynet] Skynet 1M (github.com/atemerev/skynet): a tree of goroutines, 10 children
// per node, 1M leaves; each node sums its children's numbers over an unbuffered channel.
func skynet(c chan<- int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	for i := 0; i < div; i++ {
		sub := num + i*(size/div)
		go skynet(rc, sub, size/div, div)
	}
	sum := 0
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func runSkynet(id string, leaves int) time.Duration {
	start := time.Now()
	c := make(chan int)
	go skynet(c, 0, leaves, 10)
	got := <-c
	d := time.Since(start)
	if want := leaves * (leaves - 1) / 2; got != want {
		fail(id, "result %d, want %d", got, want)
	}
	return d
}

func benchSkynet() {
	runSkynet("skynet", 100_000)
	d := runSkynet("skynet", 1_000_000)
	report("skynet", float64(d.Nanoseconds())/1e6, "ms")
}

// [skynet_rss] peak RSS of a process that ran Skynet 1M once (no warm-up), MiB.
func benchSkynetRSS() {
	runSkynet("skynet_rss", 1_000_000)
	report("skynet_rss", float64(peakRSSKiB())/1024, "MiB")
}

// [sleep100k] 100k goroutines each sleeping 10 ms: wall ms from the first spawn until
// all have woken.
func sleep100k() time.Duration {
	const n = 100_000
	var wg sync.WaitGroup
	wg.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			time.Sleep(10 * time.Millisecond)
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func benchSleep100k() {
	sleep100k()
	d := sleep100k()
	report("sleep100k", float64(d.Nanoseconds())/1e6, "ms")
}

// [sleep100k_rss] peak RSS of a process that ran sleep100k once, MiB.
func benchSleep100kRSS() {
	sleep100k()
	report("sleep100k_rss", float64(peakRSSKiB())/1024, "MiB")
}

// [parked_rss_100k], [parked_rss_1m] resident memory per parked goroutine, each blocked
// receiving on its own channel: (RSS with all parked - RSS before) / n, KiB. The
// channels are counted: they are part of what a parked goroutine costs here.
func benchParkedRSS(id string, n int) {
	runtime.GC()
	debug.FreeOSMemory()
	before := currentRSSBytes()
	chans := make([]chan int, n)
	var ready, done sync.WaitGroup
	ready.Add(n)
	done.Add(n)
	for i := range chans {
		c := make(chan int)
		chans[i] = c
		go func() {
			ready.Done()
			<-c
			done.Done()
		}()
	}
	ready.Wait()
	time.Sleep(50 * time.Millisecond) // the last ones get from Done to parked
	after := currentRSSBytes()
	for _, c := range chans {
		close(c)
	}
	done.Wait()
	report(id, float64(after-before)/1024/float64(n), "KiB")
}

// [fib30] fork-join fib(30) with no cutoff: each call with n >= 2 runs fib(n-1) in a
// new goroutine, computes fib(n-2) itself and joins with a WaitGroup (1,346,268 spawns).
func fib(n int) int {
	if n < 2 {
		return n
	}
	var wg sync.WaitGroup
	var a int
	wg.Add(1)
	go func() {
		a = fib(n - 1)
		wg.Done()
	}()
	b := fib(n - 2)
	wg.Wait()
	return a + b
}

func benchFib30() {
	fib(25)
	start := time.Now()
	got := fib(30)
	d := time.Since(start)
	if got != 832040 {
		fail("fib30", "fib(30) = %d", got)
	}
	report("fib30", float64(d.Nanoseconds())/1e6, "ms")
}
