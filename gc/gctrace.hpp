// GODEBUG=gctrace=1: one line on stderr per collection, in Go 1.19's format
// field for field (runtime/mgc.go, gcMarkTermination), so that the tools
// that read Go's trace read gort's:
//
//   gc 7 @0.734s 4%: 0.021+0+18 ms clock, 0.042+0/0/0+36 ms cpu, 18->18->9 MB, 19 MB goal, 0 MB stacks, 0 MB globals, 2 P (forced)
//
// The three clock times are Go's phases: sweep termination (from the stop
// request to the world restarted; the last cycle's leftover sweeping
// happens before, beside the program, and Go does not count it either),
// concurrent mark, mark termination (from its stop request to the restart).
// The cpu times are Go's five: sweep termination, then mark assists /
// background workers / idle marking, then mark termination; a stopped world
// counts every P, as Go counts it. gort's fractional worker uses idle Ps
// as it goes, so idle marking reads 0. Heap: at the start, at the end of
// marking, marked live (MB). Under GODEBUG=gcstoptheworld=1 the mark reads
// 0 and the whole pause is the first figure plus the third.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gort::gc {

struct CycleTrace {
  uint64_t number = 0;  // 1 for the first cycle, as Go's numgc
  // nanotime() at: the stop request (sweep termination), the world
  // restarted (marking begins), the stop request (mark termination), the
  // world restarted (the cycle's end).
  int64_t sweep_term_start = 0, mark_start = 0, mark_term_start = 0, end = 0;
  int64_t assist_ns = 0, worker_ns = 0;  // CPU time marking beside the program
  // Beside those, marking on Ps that were otherwise idle (Go's idle
  // marking): printed, but not counted in cycle_cpu_ns or GCCPUFraction.
  int64_t idle_ns = 0;
  size_t heap_start = 0, heap_marked_end = 0, heap_live = 0, heap_goal = 0;
  size_t stack_bytes = 0, global_bytes = 0;
  int procs = 0;
  bool forced = false;  // gc::collect, as Go's runtime.GC
};

// The CPU time the cycle took, in Go's accounting (above).
int64_t cycle_cpu_ns(const CycleTrace& t);

// Go's line for the cycle, newline included, into buf (NUL-terminated,
// cut at size); returns its length. since_start_ns: the cycle's start
// since the runtime started; cpu_percent: the collector's share of the
// CPU time available since then.
size_t format_gctrace(const CycleTrace& t, int64_t since_start_ns, int cpu_percent, char* buf, size_t size);

// Adds the cycle to the collector's CPU total and writes its line to
// stderr in one write.
void print_gctrace(const CycleTrace& t);

}  // namespace gort::gc
