package main

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"time"
)

// [ctx_cancel_10k] 10,000 goroutines blocked on <-ctx.Done() of one WithCancel context;
// time from cancel() until all have woken and called Done on a wait group, µs. Waiters
// signal "ready" before blocking and the canceller sleeps 20 ms after the last ready,
// so all are parked. Mean of 10 rounds after one warm-up round.
func benchCtxCancel10k() {
	const waiters, rounds = 10_000, 10
	round := func() time.Duration {
		ctx, cancel := context.WithCancel(context.Background())
		var ready, done sync.WaitGroup
		ready.Add(waiters)
		done.Add(waiters)
		for i := 0; i < waiters; i++ {
			go func() {
				ready.Done()
				<-ctx.Done()
				done.Done()
			}()
		}
		ready.Wait()
		time.Sleep(20 * time.Millisecond) // let the last ones get from Done to parked
		start := time.Now()
		cancel()
		done.Wait()
		d := time.Since(start)
		if ctx.Err() != context.Canceled {
			fail("ctx_cancel_10k", "not canceled")
		}
		return d
	}
	round()
	var total time.Duration
	for r := 0; r < rounds; r++ {
		total += round()
	}
	report("ctx_cancel_10k", float64(total.Nanoseconds())/rounds/1e3, "us")
}

// [timer_reset] Reset(1 hour) on one active timer (time.NewTimer(1 hour)): ns per reset.
// Every Reset must find the timer active (returns true).
func benchTimerReset() {
	perOp("timer_reset", "ns/op", scaled(1_000_000), func(n int) time.Duration {
		t := time.NewTimer(time.Hour)
		active := 0
		start := time.Now()
		for i := 0; i < n; i++ {
			if t.Reset(time.Hour) {
				active++
			}
		}
		d := time.Since(start)
		t.Stop()
		if active != n {
			fail("timer_reset", "Reset found the timer inactive %d times", n-active)
		}
		return d
	})
}

// stackError is errors.New plus the caller's stack as raw PCs, as pkg/errors records it.
type stackError struct {
	error
	pcs [32]uintptr
	n   int
}

func newStackError(msg string) error {
	e := &stackError{error: errors.New(msg)}
	e.n = runtime.Callers(1, e.pcs[:])
	return e
}

// errorAt creates the error depth frames below its caller, so that the capture walks a
// realistic stack.
func errorAt(depth int, msg string) error {
	if depth == 0 {
		return newStackError(msg)
	}
	return errorAt(depth-1, msg)
}

// [error_create] an error with a stack capture (errors.New + runtime.Callers into a
// [32]uintptr), created 8 frames below the loop: ns per creation.
func benchErrorCreate() {
	perOp("error_create", "ns/op", scaled(200_000), func(n int) time.Duration {
		var last error
		start := time.Now()
		for i := 0; i < n; i++ {
			last = errorAt(8, "bench error")
		}
		d := time.Since(start)
		if e, ok := last.(*stackError); !ok || e.n < 10 || e.Error() != "bench error" {
			fail("error_create", "no stack captured")
		}
		return d
	})
}
