package main

// deepidle, as tools/benchmarks/deepidle.cpp: goroutines that recursed
// 64 KiB deep once and then parked; RSS parked, after one collection and
// after three (Go halves a stack that uses under a quarter of it per cycle,
// shrinkstack in runtime/stack.go), and the longest pause of those cycles.

import (
	"fmt"
	"runtime"
	"sync"
	"time"
)

const deepKiB = 64

// One KiB of frame per level, all of it live at the bottom (no tail call).
// Every byte written is read back after the call, so no store is dead, as
// the C++ twin's volatile frame ensures.
//
//go:noinline
func recurse(depth int) int64 {
	var frame [1024]byte
	for i := 0; i < len(frame); i += 64 {
		frame[i] = byte(depth)
	}
	var below int64
	if depth > 0 {
		below = recurse(depth - 1)
	}
	for i := 0; i < len(frame); i += 64 {
		below += int64(frame[i])
	}
	return below
}

func deepidle() {
	n := arg(100000)
	gate := make(chan int)
	var parked, finished sync.WaitGroup
	parked.Add(int(n))
	finished.Add(int(n))
	rss0 := rssBytes()
	for i := int64(0); i < n; i++ {
		go func() {
			recurse(deepKiB)
			parked.Done()
			<-gate
			finished.Done()
		}()
	}
	parked.Wait()
	time.Sleep(100 * time.Millisecond) // the last ones reach <-gate
	parkedRSS := rssBytes()
	progress("deepidle: %d goroutines parked after recursing %d KiB; collecting", n, deepKiB)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	runtime.GC()
	after1 := rssBytes()
	runtime.GC()
	runtime.GC()
	after3 := rssBytes()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	pauses := pausesInRing(&after, before.NumGC+1)
	perG := func(rss int64) float64 { return float64(rss-rss0) / 1024 / float64(n) }
	mib := func(rss int64) float64 { return float64(rss) / (1024 * 1024) }
	fmt.Printf("bench=deepidle impl=go n=%d parked_kb_per_g=%.1f after1_kb_per_g=%.1f after3_kb_per_g=%.1f "+
		"parked_mb=%.1f after1_mb=%.1f after3_mb=%.1f pause_max_us=%.1f\n",
		n, perG(parkedRSS), perG(after1), perG(after3), mib(parkedRSS), mib(after1), mib(after3),
		percentileUs(pauses, 1.0))
	close(gate)
	finished.Wait()
}
