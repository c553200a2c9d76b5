// The pacer (Go 1.18+'s gcControllerState, runtime/mgcpacer.go): when a
// cycle starts and how hard allocation pays for marking, so that marking
// ends near the heap goal with the background workers near 25% of the CPU.
//
//   goal    = marked + (marked + stacks + globals) * GOGC/100
//             (at least 4 MiB * GOGC/100, Go's heapminimum)
//   limit   = GOMEMLIMIT - non-heap memory - how far over the limit the
//             process is - 1 MiB of headroom           (memoryLimitHeapGoal)
//   goal    = min(goal, limit goal)
//   cons/mark = (bytes allocated during marking * mark utilization)
//             / (scan work * (1 - mark utilization))    (endCycle)
//   runway  = cons/mark * (1 - 0.25) / 0.25 * (expected scan work)
//   trigger = goal - runway, kept between 70% and 95% of the way from
//             marked to goal (or goal - 4 MiB for large heaps)
//
// cons/mark is how fast the program allocates relative to how fast the
// collector scans, per CPU; multiplied by the CPU split the collector aims
// for, it says how many bytes the program will allocate while the expected
// scan work is done, so the cycle must start that far below the goal.
// Go smooths it with a PI controller; gort averages the last cycle's
// figure with its running estimate (an overdamped first-order filter).
//
// The memory limit cannot be allowed to make the collector eat the
// program (a limit set below the live heap would run cycles back to back):
// as Go's gcCPULimiter, a bucket fills with the collector's CPU time and
// drains with the program's; while it is full (the collector used more
// than half of the CPU over the last second or so) assists are switched
// off, so the heap overshoots the limit instead of the program stalling.
// Go runs the limiter always; gort only under a memory limit, the one
// setting that can demand cycles back to back.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gort::gc {

// What a cycle measured, for the pacer at its end.
struct CycleMeasure {
  size_t marked = 0;        // live heap: marked plus allocated black
  size_t stack_bytes = 0;   // goroutine stacks scanned
  size_t global_bytes = 0;  // root ranges scanned
  size_t heap_at_trigger = 0;
  size_t heap_at_mark_end = 0;
  int64_t scan_work = 0;     // bytes blackened, stacks and roots included
  int64_t mark_cpu_ns = 0;   // assists and background workers
  int64_t mark_wall_ns = 0;  // from the first pause's end to the second's start
  int64_t pause_ns = 0;      // both pauses
  int procs = 1;
};

class Pacer {
 public:
  static Pacer& get();

  // GOGC: percent (negative: off). Returns the previous value.
  int set_gc_percent(int percent);
  int gc_percent() const;
  // GOMEMLIMIT in bytes (INT64_MAX: none). Negative: only reads it.
  // Returns the previous value.
  int64_t set_memory_limit(int64_t bytes);
  int64_t memory_limit() const;

  // At the end of a cycle: the next goal and trigger from what it measured.
  void end_cycle(const CycleMeasure& m);
  // The heap goal and the heap size that starts the next cycle
  // (SIZE_MAX: none, GOGC=off without a limit).
  size_t goal() const;
  size_t trigger() const;
  // The scan work the next cycle should expect (heap, stacks, roots).
  int64_t expected_scan_work() const;
  // How many bytes the runtime holds beyond GOMEMLIMIT now (0: none, or no
  // limit): what the scavenger must give back at once.
  size_t over_memory_limit() const;
  // Whether allocation pays assists now (false while the CPU limiter is on).
  bool assists_enabled() const;
  // An allocation waited ns for a cycle to end (past the goal, with nothing
  // it could mark): the collector's time to the CPU limiter, as Go counts
  // assists parked on its queue.
  void count_assist_wait(int64_t ns);

  // GODEBUG=gcpacertrace=1: Go's line at a cycle's start.
  void trace_start(size_t heap_live, int dedicated_workers, double fractional_goal) const;

 private:
  Pacer();
  void recompute();  // goal and trigger from the last cycle's figures; lock held
};

}  // namespace gort::gc
