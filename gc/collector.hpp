// The collector's interface to the layer above (runtime/gc.cpp implements
// the public gc::collect and gc::stats on it).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gort::gc {

// A full collection, from a goroutine; returns once its destructors ran.
void collect_now();

struct CollectorStats {
  uint64_t num_gc = 0;
  size_t heap_live = 0;
  size_t heap_alloc = 0;
  size_t next_gc = 0;
  uint64_t freed_objects = 0;
  int64_t last_pause_ns = 0;
  int64_t total_pause_ns = 0;
};
CollectorStats collector_stats();

}  // namespace gort::gc
