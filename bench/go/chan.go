package main

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// [pingpong] an unbuffered ping-pong between two goroutines: ns per round trip.
func benchPingPong() {
	perOp("pingpong", "ns/op", scaled(500_000), func(n int) time.Duration {
		ping, pong := make(chan int), make(chan int)
		var wg sync.WaitGroup
		wg.Add(2)
		start := time.Now()
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				ping <- i
				<-pong
			}
		}()
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				pong <- <-ping
			}
		}()
		wg.Wait()
		return time.Since(start)
	})
}

// [buffered_1p1c] cap 128, one producer, one consumer: ns per item.
func benchBuffered1P1C() {
	perOp("buffered_1p1c", "ns/item", scaled(4_000_000), func(n int) time.Duration {
		ch := make(chan int, 128)
		var wg sync.WaitGroup
		var sum int
		wg.Add(2)
		start := time.Now()
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				ch <- i
			}
			close(ch)
		}()
		go func() {
			defer wg.Done()
			for v := range ch {
				sum += v
			}
		}()
		wg.Wait()
		d := time.Since(start)
		if sum != n*(n-1)/2 {
			fail("buffered_1p1c", "sum %d", sum)
		}
		return d
	})
}

// [contended_4p4c] cap 64, four producers and four consumers on one channel: ns per item.
func benchContended4P4C() {
	perOp("contended_4p4c", "ns/item", scaled(3_000_000), func(n int) time.Duration {
		const producers, consumers = 4, 4
		n -= n % producers
		ch := make(chan int, 64)
		var prod, cons sync.WaitGroup
		var sum atomic.Int64
		prod.Add(producers)
		cons.Add(consumers)
		start := time.Now()
		for p := 0; p < producers; p++ {
			go func(p int) {
				defer prod.Done()
				for i := p; i < n; i += producers {
					ch <- i
				}
			}(p)
		}
		for c := 0; c < consumers; c++ {
			go func() {
				defer cons.Done()
				local := 0
				for v := range ch {
					local += v
				}
				sum.Add(int64(local))
			}()
		}
		go func() {
			prod.Wait()
			close(ch)
		}()
		cons.Wait()
		d := time.Since(start)
		if sum.Load() != int64(n)*int64(n-1)/2 {
			fail("contended_4p4c", "sum %d", sum.Load())
		}
		return d
	})
}

// [select2] select over two buffered channels that are both always ready: each
// channel holds one value, and the case that fires puts its value back.
// ns per select (including the refilling send).
func benchSelect2() {
	perOp("select2", "ns/op", scaled(2_000_000), func(n int) time.Duration {
		a, b := make(chan int, 1), make(chan int, 1)
		a <- 1
		b <- 2
		var hits [2]int
		start := time.Now()
		for i := 0; i < n; i++ {
			select {
			case v := <-a:
				hits[0]++
				a <- v
			case v := <-b:
				hits[1]++
				b <- v
			}
		}
		d := time.Since(start)
		if n >= 1000 && (hits[0] < n/4 || hits[1] < n/4) {
			fail("select2", "unfair select: %v", hits)
		}
		return d
	})
}

// [select2_unbuf] select over two unbuffered channels, each fed by its own sender
// goroutine: ns per select.
func benchSelect2Unbuf() {
	perOp("select2_unbuf", "ns/op", scaled(1_000_000), func(n int) time.Duration {
		a, b := make(chan int), make(chan int)
		var stop atomic.Bool
		sender := func(c chan int) {
			for !stop.Load() {
				c <- 1
			}
			close(c)
		}
		go sender(a)
		go sender(b)
		start := time.Now()
		for i := 0; i < n; i++ {
			select {
			case <-a:
			case <-b:
			}
		}
		d := time.Since(start)
		stop.Store(true)
		for range a { // at most one value is in flight per sender
		}
		for range b {
		}
		return d
	})
}

// [select_default] select with four receive cases and a default, nothing ready:
// ns per select.
func benchSelectDefault() {
	perOp("select_default", "ns/op", scaled(2_000_000), func(n int) time.Duration {
		c0, c1, c2, c3 := make(chan int), make(chan int), make(chan int), make(chan int)
		misses := 0
		start := time.Now()
		for i := 0; i < n; i++ {
			select {
			case <-c0:
			case <-c1:
			case <-c2:
			case <-c3:
			default:
				misses++
			}
		}
		d := time.Since(start)
		if misses != n {
			fail("select_default", "a case fired")
		}
		return d
	})
}

// [close_broadcast] 10k goroutines parked on one chan struct{}; time from close until
// all have woken and signalled a WaitGroup. Mean of 10 rounds after one warm-up, µs.
func benchCloseBroadcast() {
	const waiters, rounds = 10_000, 10
	round := func() time.Duration {
		ch := make(chan struct{})
		var ready, done sync.WaitGroup
		ready.Add(waiters)
		done.Add(waiters)
		for i := 0; i < waiters; i++ {
			go func() {
				ready.Done()
				<-ch
				done.Done()
			}()
		}
		ready.Wait()
		time.Sleep(20 * time.Millisecond) // let the last ones get from Done to parked
		start := time.Now()
		close(ch)
		done.Wait()
		return time.Since(start)
	}
	round()
	var total time.Duration
	for r := 0; r < rounds; r++ {
		total += round()
	}
	report("close_broadcast", float64(total.Nanoseconds())/rounds/1e3, "us")
}

// [sieve] the concurrent prime sieve: a chain of filter goroutines, first 5000 primes, ms.
// Leak-free variant: when the main goroutine has its primes it stops the generator,
// whose close ripples down the chain.
func generate(out chan<- int, stop *atomic.Bool) {
	for i := 2; !stop.Load(); i++ {
		out <- i
	}
	close(out)
}

func filter(in <-chan int, out chan<- int, prime int) {
	for v := range in {
		if v%prime != 0 {
			out <- v
		}
	}
	close(out)
}

func sieve(primes int) (last int, d time.Duration) {
	var stop atomic.Bool
	start := time.Now()
	ch := make(chan int)
	go generate(ch, &stop)
	for i := 0; i < primes; i++ {
		prime := <-ch
		last = prime
		next := make(chan int)
		go filter(ch, next, prime)
		ch = next
	}
	d = time.Since(start)
	stop.Store(true)
	for range ch {
	}
	return last, d
}

func benchSieve() {
	sieve(500)
	last, d := sieve(5000)
	if last != 48611 {
		fail("sieve", "5000th prime %d", last)
	}
	report("sieve", float64(d.Nanoseconds())/1e6, "ms")
}

// [pipeline] generator -> map -> filter -> fan-out to GOMAXPROCS workers -> fan-in ->
// sink, channels of cap 128 between stages: ns per generated item.
func pipeline(n int) time.Duration {
	const capacity = 128
	workers := runtime.GOMAXPROCS(0)
	start := time.Now()

	gen := make(chan int, capacity)
	go func() {
		for i := 0; i < n; i++ {
			gen <- i
		}
		close(gen)
	}()
	mapped := make(chan int, capacity)
	go func() {
		for v := range gen {
			mapped <- v * 3
		}
		close(mapped)
	}()
	filtered := make(chan int, capacity)
	go func() {
		for v := range mapped {
			if v%4 != 0 {
				filtered <- v
			}
		}
		close(filtered)
	}()
	merged := make(chan int, capacity)
	var fanIn sync.WaitGroup
	fanIn.Add(workers)
	for w := 0; w < workers; w++ {
		out := make(chan int, capacity)
		go func() { // worker: fan-out by sharing one input channel
			for v := range filtered {
				out <- v + 1
			}
			close(out)
		}()
		go func() { // fan-in: one forwarder per worker
			for v := range out {
				merged <- v
			}
			fanIn.Done()
		}()
	}
	go func() {
		fanIn.Wait()
		close(merged)
	}()
	var sum int64
	for v := range merged {
		sum += int64(v)
	}
	d := time.Since(start)

	var want int64
	for i := 0; i < n; i++ {
		if v := i * 3; v%4 != 0 {
			want += int64(v + 1)
		}
	}
	if sum != want {
		fail("pipeline", "sum %d, want %d", sum, want)
	}
	return d
}

func benchPipeline() {
	perOp("pipeline", "ns/item", scaled(10_000_000), pipeline)
}
