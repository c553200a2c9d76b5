// Go twins of gort's benchmark programs (tools/bench): the same work, the
// same output line, so tools/compare can print them side by side.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func arg(def int64) int64 {
	if len(os.Args) > 2 {
		n, err := strconv.ParseInt(os.Args[2], 10, 64)
		if err == nil {
			return n
		}
	}
	return def
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

func main() {
	benches := map[string]func(){"spawn": spawn, "pingpong": pingpong, "idle": idle, "idlewg": idlewg}
	if len(os.Args) < 2 || benches[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: go-bench spawn|pingpong|idle|idlewg [N]")
		os.Exit(2)
	}
	benches[os.Args[1]]()
}
