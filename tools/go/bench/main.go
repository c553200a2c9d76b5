// Go twins of gort's benchmark programs (tools/bench): the same work, the
// same output line, so tools/compare can print them side by side.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
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

func echo() {
	conns := int(arg(1000))
	rounds := 100
	if len(os.Args) > 3 {
		if r, err := strconv.Atoi(os.Args[3]); err == nil {
			rounds = r
		}
	}
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

func main() {
	benches := map[string]func(){"spawn": spawn, "pingpong": pingpong, "idle": idle, "idlewg": idlewg, "echo": echo}
	if len(os.Args) < 2 || benches[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: go-bench spawn|pingpong|idle|idlewg|echo [N] [M]")
		os.Exit(2)
	}
	benches[os.Args[1]]()
}
