package main

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// [mutex8] one sync.Mutex contended by 8 goroutines, critical section = one increment:
// ns per lock/unlock pair (all goroutines' pairs counted).
func benchMutex8() {
	perOp("mutex8", "ns/op", scaled(10_000_000), func(n int) time.Duration {
		const goroutines = 8
		n -= n % goroutines
		var mu sync.Mutex
		counter := 0
		var wg sync.WaitGroup
		wg.Add(goroutines)
		start := time.Now()
		for g := 0; g < goroutines; g++ {
			go func() {
				for i := 0; i < n/goroutines; i++ {
					mu.Lock()
					counter++
					mu.Unlock()
				}
				wg.Done()
			}()
		}
		wg.Wait()
		d := time.Since(start)
		if counter != n {
			fail("mutex8", "counter %d, want %d", counter, n)
		}
		return d
	})
}

// [rwmutex_read] sync.RWMutex, read-mostly: 8 readers do r read-lock/unlock pairs each,
// one writer does r/10 write pairs: ns per op over all 8r + r/10 ops.
func benchRWMutexRead() {
	const readers = 8
	total := scaled(10_000_000)
	r := total * 10 / (readers*10 + 1)
	if r < 10 {
		r = 10
	}
	run := func(r int) time.Duration {
		var mu sync.RWMutex
		shared, seen := 0, make([]int, readers)
		var wg sync.WaitGroup
		wg.Add(readers + 1)
		start := time.Now()
		for g := 0; g < readers; g++ {
			go func(g int) {
				s := 0
				for i := 0; i < r; i++ {
					mu.RLock()
					s += shared
					mu.RUnlock()
				}
				seen[g] = s
				wg.Done()
			}(g)
		}
		go func() {
			for i := 0; i < r/10; i++ {
				mu.Lock()
				shared++
				mu.Unlock()
			}
			wg.Done()
		}()
		wg.Wait()
		d := time.Since(start)
		if shared != r/10 {
			fail("rwmutex_read", "writes lost")
		}
		return d
	}
	run(r / 10)
	d := run(r)
	report("rwmutex_read", float64(d.Nanoseconds())/float64(readers*r+r/10), "ns/op")
}

// [waitgroup] Add(1)+Done() pairs on one WaitGroup from one goroutine: ns per pair.
func benchWaitGroup() {
	perOp("waitgroup", "ns/op", scaled(20_000_000), func(n int) time.Duration {
		var wg sync.WaitGroup
		start := time.Now()
		for i := 0; i < n; i++ {
			wg.Add(1)
			wg.Done()
		}
		wg.Wait()
		return time.Since(start)
	})
}

// [with_cancel] context.WithCancel(Background) + cancel(): ns per pair.
func benchWithCancel() {
	perOp("with_cancel", "ns/op", scaled(2_000_000), func(n int) time.Duration {
		start := time.Now()
		for i := 0; i < n; i++ {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if i == 0 && ctx.Err() != context.Canceled {
				fail("with_cancel", "not canceled")
			}
		}
		return time.Since(start)
	})
}

// [mutex_uncontended] Lock()+Unlock() pairs on one sync.Mutex from one goroutine (no
// contention): ns per pair.
func benchMutexUncontended() {
	perOp("mutex_uncontended", "ns/op", scaled(20_000_000), func(n int) time.Duration {
		var mu sync.Mutex
		counter := 0
		start := time.Now()
		for i := 0; i < n; i++ {
			mu.Lock()
			counter++
			mu.Unlock()
		}
		d := time.Since(start)
		if counter != n {
			fail("mutex_uncontended", "counter %d, want %d", counter, n)
		}
		return d
	})
}

// [pool_parallel] GOMAXPROCS goroutines doing Get()+Put() pairs on one sync.Pool of
// *[64]byte: ns per pair, all goroutines' pairs counted (wall time / total pairs).
func benchPoolParallel() {
	perOp("pool_parallel", "ns/op", scaled(10_000_000), func(n int) time.Duration {
		goroutines := runtime.GOMAXPROCS(0)
		n -= n % goroutines
		p := sync.Pool{New: func() any { return new([64]byte) }}
		pairs := make([]int, goroutines)
		var wg sync.WaitGroup
		wg.Add(goroutines)
		start := time.Now()
		for g := 0; g < goroutines; g++ {
			go func(g int) {
				c := 0
				for i := 0; i < n/goroutines; i++ {
					b := p.Get().(*[64]byte)
					b[0]++
					p.Put(b)
					c++
				}
				pairs[g] = c
				wg.Done()
			}(g)
		}
		wg.Wait()
		d := time.Since(start)
		total := 0
		for _, c := range pairs {
			total += c
		}
		if total != n {
			fail("pool_parallel", "%d pairs, want %d", total, n)
		}
		return d
	})
}
