// Who marks while the program runs (Go's gcBgMarkWorker, gcController's
// worker modes, and gcAssistAlloc in mgcmark.go).
//
//  - Background mark workers: ceil(GOMAXPROCS / 4) goroutines of the
//    runtime, parked between cycles. floor(GOMAXPROCS / 4) of them are
//    dedicated: they mark until nothing is left. When a quarter of the Ps
//    is not a whole number (2 Ps here: half a P), the last one is
//    fractional: it marks only while its share of the time since marking
//    began stays under the fraction, and sleeps otherwise - unless some P
//    is idle, which it then uses at full speed (Go's idle-priority marking).
//  - Mark assists: while marking, every 64 KiB the heap grows sends the
//    goroutine whose allocation crossed the line to mark first, in
//    proportion to the growth since the last assist: the scan work still
//    expected this cycle over the heap left before the goal, times that
//    growth. The heap cannot outrun the marker: the closer it gets to the
//    goal, the more each allocation pays, and past it an assist marks all
//    it can find, or waits for the cycle to end when there is nothing to
//    mark.
//  - Each worker slice and each assist marks with the stop signal held
//    off, and hands its grey objects to the shared lists before it can be
//    stopped: when the world stops for mark termination, no marker holds
//    work the pause cannot see.
// The worker that finds nothing left to mark, no root job, no goroutine
// owed a scan (or only ones that will not reach a safe point), and no other
// marker busy, runs mark termination (collector.hpp).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gort::gc {

// With the world stopped at the start of marking: this cycle's workers.
void prepare_mark_workers(int gomaxprocs);
// This cycle's split (gcpacertrace): dedicated workers, and the fraction
// of a P the fractional one aims for.
int dedicated_mark_workers();
double fractional_mark_goal();
// After the world restarted: wakes the workers, starting them the first
// time.
void wake_mark_workers();

// The allocating goroutine pays for `grown` bytes of heap growth during
// marking. False when the heap is past its goal and there was nothing to
// mark: the work left is owed by goroutines that must first reach a safe
// point, and the caller waits for the cycle to end (Go parks such a
// goroutine on its assist queue).
bool mark_assist(size_t grown, size_t heap_now, size_t heap_goal, int64_t expected_scan_work);

// CPU spent this cycle by assists and by background workers (gctrace).
int64_t assist_cpu_ns();
int64_t worker_cpu_ns();
// The fractional worker's time beyond its fraction, on a P that was idle.
int64_t idle_mark_cpu_ns();

// At teardown, once no goroutine runs: workers buried mid-cycle are gone.
void forget_buried_mark_workers();

}  // namespace gort::gc
