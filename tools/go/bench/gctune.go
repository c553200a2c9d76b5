// gctune MODE, as tools/benchmarks/gctune.cpp: a 32 MiB live list, one
// goroutine per P allocating 4 GiB in 256-byte objects that each live while
// the next 1,023 are made, under one of the seed's ways of collecting less
// often: none (GOGC=100), ballast (a 200 MiB untouched array kept alive),
// memlimit (GOGC=off, a 300 MiB soft limit) or tuner (a self-re-arming
// finalizer that sets GOGC so the next goal lands near 300 MiB).
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

const (
	tuneLiveBytes    = 32 << 20
	tuneChurnBytes   = 4 << 30
	tuneBallastBytes = 200 << 20
	tuneTargetBytes  = 300 << 20
	tuneRecent       = 1024
)

// 256 bytes with one pointer, as gort's.
type tuneObj struct {
	next *tuneObj
	pad  [248]byte
}

// peakRSSBytes is the kernel's peak resident set (VmHWM).
func peakRSSBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		var kb int64
		if n, _ := fmt.Sscanf(s.Text(), "VmHWM: %d kB", &kb); n == 1 {
			return kb * 1024
		}
	}
	return 0
}

type tuner struct{ target int64 }

// retune runs after every cycle: it reads the live heap, sets GOGC so the
// next goal is the target (never below GOGC=100's frequency), and re-arms.
func retune(t *tuner) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	live := int64(m.HeapAlloc)
	if live < 1 {
		live = 1
	}
	percent := (t.target - live) * 100 / live
	if percent < 100 {
		percent = 100
	}
	if percent > 10000 {
		percent = 10000
	}
	debug.SetGCPercent(int(percent))
	runtime.SetFinalizer(t, retune)
}

var tuneSink []byte

func gctune() {
	mode := "none"
	if len(os.Args) > 2 {
		mode = os.Args[2]
	}
	if mode != "none" && mode != "ballast" && mode != "memlimit" && mode != "tuner" {
		fmt.Fprintf(os.Stderr, "gctune: MODE is none, ballast, memlimit or tuner, not %s\n", mode)
		os.Exit(2)
	}
	var live *tuneObj
	for i := 0; i < tuneLiveBytes/256; i++ {
		live = &tuneObj{next: live}
	}
	rssBeforeBallast := rssBytes()
	switch mode {
	case "ballast":
		tuneSink = make([]byte, tuneBallastBytes)
	case "memlimit":
		debug.SetGCPercent(-1)
		debug.SetMemoryLimit(tuneTargetBytes)
	case "tuner":
		t := &tuner{target: tuneTargetBytes}
		runtime.SetFinalizer(t, retune)
	}
	ballastResident := rssBytes() - rssBeforeBallast
	runtime.GC()
	progress("gctune: %s: 32 MiB live, churning 4 GiB", mode)
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	churners := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	wg.Add(churners)
	for c := 0; c < churners; c++ {
		go func() {
			recent := make([]*tuneObj, tuneRecent)
			var head *tuneObj
			n := tuneChurnBytes / 256 / churners
			for i := 0; i < n; i++ {
				o := &tuneObj{next: head}
				head = o
				if old := recent[i%tuneRecent]; old != nil {
					old.next = nil
				}
				recent[i%tuneRecent] = o
			}
			wg.Done()
		}()
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	pauses := pausesInRing(&after, before.NumGC+1)
	pct := func(p float64) float64 { return percentileUs(pauses, p) }
	runtime.KeepAlive(live)
	fmt.Printf("bench=gctune impl=go mode=%s gcs=%d gc_cpu_fraction=%.4f peak_rss_mb=%.1f pause_p99_us=%.1f "+
		"pause_max_us=%.1f seconds=%.2f ballast_resident_mb=%.1f\n", mode, after.NumGC-before.NumGC,
		after.GCCPUFraction, float64(peakRSSBytes())/float64(1<<20), pct(0.99), pct(1.0), seconds,
		float64(ballastResident)/float64(1<<20))
}
