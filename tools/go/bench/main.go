// Go twins of gort's benchmark programs (tools/bench): the same work, the
// same output line, so tools/compare can print them side by side.
package main

import (
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"runtime/trace"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// argAt is the i-th argument after the benchmark's name, or def if absent.
func argAt(i int, def int64) int64 {
	if len(os.Args) > 2+i {
		n, err := strconv.ParseInt(os.Args[2+i], 10, 64)
		if err == nil {
			return n
		}
	}
	return def
}

func arg(def int64) int64 { return argAt(0, def) }

// progress prints a line on stderr saying which phase a benchmark that runs
// for seconds has reached, as gort's twin does (tools/benchmarks/common.hpp):
// stdout keeps only the figures line.
func progress(format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
}

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	fmt.Sscan(string(b), &size, &resident)
	return resident * int64(os.Getpagesize())
}

// pausesInRing is the pauses of cycles first..NumGC (counting from 1) still
// in MemStats.PauseNs, the ring of the last 256, in ns, sorted.
func pausesInRing(m *runtime.MemStats, first uint32) []uint64 {
	if m.NumGC >= 256 && m.NumGC-255 > first {
		first = m.NumGC - 255
	}
	var pauses []uint64
	for k := first; k <= m.NumGC; k++ {
		pauses = append(pauses, m.PauseNs[(k-1)%256])
	}
	sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
	return pauses
}

// percentileUs is the p-th percentile (0..1) of sorted pauses in
// microseconds; NaN when there is none, not a zero that would read as a
// pause too short to measure.
func percentileUs(sorted []uint64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return float64(sorted[int(p*float64(len(sorted)-1))]) / 1000
}

func spawn() {
	n := arg(1000000)
	var counter int64
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(int(n))
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&counter, 1)
			wg.Done()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	fmt.Printf("bench=spawn impl=go ns_per_op=%.1f n=%d gomaxprocs=%d\n",
		float64(elapsed.Nanoseconds())/float64(n), n, runtime.GOMAXPROCS(0))
}

func pingpong() {
	n := arg(2000000)
	ping := make(chan int64)
	pong := make(chan int64)
	go func() {
		for i := int64(0); i < n; i++ {
			pong <- (<-ping + 1)
		}
	}()
	start := time.Now()
	var v int64
	for i := int64(0); i < n; i++ {
		ping <- v
		v = <-pong
	}
	elapsed := time.Since(start)
	fmt.Printf("bench=pingpong impl=go ns_per_op=%.1f n=%d\n", float64(elapsed.Nanoseconds())/float64(n), n)
}

func measureIdle(name string, n int64, park func(), release func()) {
	var parked, finished sync.WaitGroup
	parked.Add(int(n))
	finished.Add(int(n))
	rss0 := rssBytes()
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			parked.Done()
			park()
			finished.Done()
		}()
	}
	parked.Wait()
	t1 := time.Now()
	rss1 := rssBytes()
	progress("%s: %d goroutines parked; releasing them", name, n)
	release()
	finished.Wait()
	t2 := time.Now()
	fmt.Printf("bench=%s impl=go bytes_per_goroutine=%.0f park_s=%.3f release_s=%.3f n=%d\n", name,
		float64(rss1-rss0)/float64(n), t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), n)
}

func idle() {
	gate := make(chan int)
	measureIdle("idle", arg(1000000), func() { <-gate }, func() { close(gate) })
}

func idlewg() {
	var gate sync.WaitGroup
	gate.Add(1)
	measureIdle("idlewg", arg(1000000), func() { gate.Wait() }, func() { gate.Done() })
}

func echo() {
	conns := int(arg(1000))
	rounds := int(argAt(1, 100))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	var handlers sync.WaitGroup
	handlers.Add(1)
	go func() {
		defer handlers.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			handlers.Add(1)
			go func(c net.Conn) {
				defer handlers.Done()
				defer c.Close()
				buf := make([]byte, 64)
				for {
					if _, err := io.ReadFull(c, buf); err != nil {
						return
					}
					if _, err := c.Write(buf); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	perClient := make([][]int64, conns)
	var ready, done sync.WaitGroup
	ready.Add(conns)
	done.Add(conns)
	for i := 0; i < conns; i++ {
		go func(i int) {
			defer done.Done()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				panic(err)
			}
			ready.Done()
			ready.Wait()
			msg, back := make([]byte, 64), make([]byte, 64)
			rtts := make([]int64, 0, rounds)
			for k := 0; k < rounds; k++ {
				msg[0] = byte(k)
				t0 := time.Now()
				c.Write(msg)
				io.ReadFull(c, back)
				rtts = append(rtts, time.Since(t0).Nanoseconds())
			}
			perClient[i] = rtts
			c.Close()
		}(i)
	}
	ready.Wait()
	progress("echo: %d clients connected; %d round trips each", conns, rounds)
	start := time.Now()
	done.Wait()
	elapsed := time.Since(start)
	ln.Close()
	handlers.Wait()
	var all []int64
	for _, v := range perClient {
		all = append(all, v...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / 1000 }
	fmt.Printf("bench=echo impl=go conns=%d rounds=%d p50_us=%.1f p99_us=%.1f rtt_per_s=%.0f\n",
		conns, rounds, pct(0.50), pct(0.99), float64(len(all))/elapsed.Seconds())
}

type pair struct{ a, b int64 }

var sink *pair

func alloc() {
	n := arg(10000000)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := int64(0); i < n; i++ {
		sink = new(pair)
	}
	elapsed := time.Since(start)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Printf("bench=alloc impl=go ns_per_op=%.1f n=%d num_gc=%d\n",
		float64(elapsed.Nanoseconds())/float64(n), n, after.NumGC-before.NumGC)
}

// Boehm's GCBench, as tools/benchmarks/gcbench.cpp.
type node struct {
	left, right *node
	i, j        int
}

const (
	stretchTreeDepth   = 18
	longLivedTreeDepth = 16
	arraySize          = 500000
	minTreeDepth       = 4
	maxTreeDepth       = 16
)

func treeSize(d int) int { return (1 << (d + 1)) - 1 }
func numIters(d int) int { return 2 * treeSize(stretchTreeDepth) / treeSize(d) }

func populate(d int, n *node) {
	if d <= 0 {
		return
	}
	d--
	n.left = &node{}
	n.right = &node{}
	populate(d, n.left)
	populate(d, n.right)
}

func makeTree(d int) *node {
	if d <= 0 {
		return &node{}
	}
	return &node{left: makeTree(d - 1), right: makeTree(d - 1)}
}

var treeSink *node

func timeConstruction(d int) {
	iters := numIters(d)
	for i := 0; i < iters; i++ {
		t := &node{}
		populate(d, t)
		treeSink = t
	}
	for i := 0; i < iters; i++ {
		treeSink = makeTree(d)
	}
}

func gcbench() {
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	treeSink = makeTree(stretchTreeDepth)
	longLived := &node{}
	populate(longLivedTreeDepth, longLived)
	array := make([]float64, arraySize)
	for i := 0; i < arraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}
	for d := minTreeDepth; d <= maxTreeDepth; d += 2 {
		timeConstruction(d)
	}
	elapsed := time.Since(start)
	if longLived == nil || array[1000] != 1.0/1000 {
		fmt.Fprintln(os.Stderr, "gcbench: long-lived data was lost")
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Printf("bench=gcbench impl=go ms=%.0f num_gc=%d pause_total_ms=%.1f gc_cpu_fraction=%.4f\n", float64(elapsed.Milliseconds()),
		after.NumGC-before.NumGC, float64(after.PauseTotalNs-before.PauseTotalNs)/1e6, after.GCCPUFraction)
}

func main() {
	benches := map[string]func(){"spawn": spawn, "pingpong": pingpong, "idle": idle, "idlewg": idlewg, "deepidle": deepidle, "echo": echo,
		"alloc": alloc, "gcbench": gcbench, "gcpause": gcpause, "gctune": gctune}
	if len(os.Args) < 2 || benches[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: go-bench spawn|pingpong|idle|idlewg|deepidle|echo|alloc|gcbench|gcpause|gctune [N] [M] [S]")
		os.Exit(2)
	}
	// GOBENCHTRACE=FILE records Go's execution trace of the run into FILE,
	// as GORTTRACE does for gort-bench, so tools/trace-overhead can put the
	// two tracers' costs side by side.
	if path := os.Getenv("GOBENCHTRACE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "go-bench:", err)
			os.Exit(2)
		}
		if err := trace.Start(f); err != nil {
			fmt.Fprintln(os.Stderr, "go-bench:", err)
			os.Exit(2)
		}
		defer f.Close()
		defer trace.Stop()
	}
	benches[os.Args[1]]()
}
