// gcpause, as tools/benchmarks/gcpause.cpp: a live tree of M MiB, G
// goroutines each holding a 15-node tree only on its own stack and parked on
// one channel, then S seconds in which one goroutine per P allocates 31-node
// trees and drops them. Figures: the pauses of the cycles that ran in those
// S seconds, at most the last 256 of them (MemStats.PauseNs), as
// percentiles; then every tree is checked.
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// Two pointers and an int64: 24 bytes, as gort's node.
type pnode struct {
	left, right *pnode
	value       int64
}

const (
	parkedTreeNodes = 15 // depth 3
	churnTreeNodes  = 31 // depth 4
)

// build makes a balanced tree of n nodes valued *next+1 .. *next+n, so its
// sum is known.
func build(n int64, next *int64) *pnode {
	if n == 0 {
		return nil
	}
	node := &pnode{}
	*next++
	node.value = *next
	left := (n - 1) / 2
	node.left = build(left, next)
	node.right = build(n-1-left, next)
	return node
}

func sumTree(node *pnode) int64 {
	if node == nil {
		return 0
	}
	return node.value + sumTree(node.left) + sumTree(node.right)
}

func expectedSum(n, base int64) int64 { return n*base + n*(n+1)/2 }

func gcpause() {
	goroutines := argAt(0, 100000)
	liveMB := argAt(1, 32)
	seconds := argAt(2, 5)
	liveNodes := liveMB << 20 / 24
	var next int64
	live := build(liveNodes, &next)
	progress("gcpause: live tree of %d MiB built", liveMB)

	var bad int64
	gate := make(chan int)
	var parked, finished sync.WaitGroup
	parked.Add(int(goroutines))
	finished.Add(int(goroutines))
	for i := int64(0); i < goroutines; i++ {
		go func(i int64) {
			base := i * parkedTreeNodes
			tree := build(parkedTreeNodes, &base)
			parked.Done()
			<-gate
			if sumTree(tree) != expectedSum(parkedTreeNodes, i*parkedTreeNodes) {
				atomic.AddInt64(&bad, 1)
			}
			finished.Done()
		}(i)
	}
	parked.Wait()
	progress("gcpause: %d goroutines parked, each holding a tree", goroutines)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	churners := runtime.GOMAXPROCS(0)
	deadline := time.Now().Add(time.Duration(seconds) * time.Second)
	var churned sync.WaitGroup
	churned.Add(churners)
	for c := 0; c < churners; c++ {
		go func() {
			var garbage int64
			for time.Now().Before(deadline) {
				build(churnTreeNodes, &garbage)
			}
			churned.Done()
		}()
	}
	// A counter once a second through a long window, as gort's twin;
	// runtime/metrics reads the cycle count without stopping the world.
	cycles := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	for second := 1; time.Now().Add(time.Second).Before(deadline); second++ {
		time.Sleep(time.Second)
		metrics.Read(cycles)
		progress("gcpause: churn %d/%d s, %d cycles", second, seconds, cycles[0].Value.Uint64()-uint64(before.NumGC))
	}
	churned.Wait()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	close(gate)
	finished.Wait()
	if sumTree(live) != expectedSum(liveNodes, 0) {
		atomic.AddInt64(&bad, 1)
	}

	pauses := pausesInRing(&after, before.NumGC+1)
	pct := func(p float64) float64 { return percentileUs(pauses, p) }
	if bad != 0 {
		fmt.Fprintf(os.Stderr, "gcpause: %d trees found damaged\n", bad)
	}
	fmt.Printf("bench=gcpause impl=go goroutines=%d live_mb=%d seconds=%d gcs=%d pause_p50_us=%.1f "+
		"pause_p99_us=%.1f pause_max_us=%.1f heap_mb=%.1f gc_cpu_fraction=%.4f bad=%d\n",
		goroutines, liveMB, seconds, after.NumGC-before.NumGC, pct(0.50), pct(0.99), pct(1.0),
		float64(before.HeapAlloc)/float64(1<<20), after.GCCPUFraction, bad)
	if bad != 0 {
		os.Exit(1)
	}
}
