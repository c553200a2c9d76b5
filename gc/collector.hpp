// The collector's cycle, and its interface to the layer above
// (runtime/gc.cpp implements the public gc::collect and gc::stats on it).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gort::sched {
struct P;
}

namespace gort::gc {

// A full collection, from a goroutine; returns once its destructors ran.
void collect_now();
// Starts a cycle unless one is running, and returns at once: the periodic
// collection's (forcegc.hpp), which is not forced in NumForcedGC's sense.
void start_periodic_cycle();

struct CollectorStats {
  uint64_t num_gc = 0;
  uint64_t num_forced_gc = 0;  // cycles gc::collect asked for
  size_t heap_live = 0;
  size_t heap_alloc = 0;
  size_t next_gc = 0;
  uint64_t freed_objects = 0;
  int64_t last_pause_ns = 0;
  int64_t total_pause_ns = 0;
  int64_t mark_cpu_ns = 0;
  // The last kPauseRing cycles, as Go's MemStats.PauseNs: cycle k (counting
  // from 1) at (k - 1) % kPauseRing, so the newest at
  // (num_gc + kPauseRing - 1) % kPauseRing.
  static constexpr size_t kPauseRing = 256;
  uint64_t pause_ns[kPauseRing] = {};
  uint64_t pause_end_ns[kPauseRing] = {};
};
CollectorStats collector_stats();

// GOGC and GOMEMLIMIT at run time (Go's debug.SetGCPercent and
// debug.SetMemoryLimit): each returns the previous setting; a negative
// limit only reads it.
int update_gc_percent(int percent);
int64_t update_memory_limit(int64_t bytes);

// Mark termination, run by the mark worker that found marking done
// (markworker.hpp).
void finish_marking();

// p is going away with the runtime (sched::Hooks::release_p): a cycle cut
// short by the runtime's end is abandoned, and p's caches handed back.
void release_p(sched::P* p);

}  // namespace gort::gc
