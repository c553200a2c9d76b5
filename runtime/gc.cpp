// The public face of the collector: gc::collect, the pacer's two knobs and
// gc::stats.
#include "gort/gc.hpp"

#include <algorithm>
#include <iterator>

#include "gc/collector.hpp"

namespace gort::gc {

void collect() { collect_now(); }

int set_gc_percent(int percent) { return update_gc_percent(percent); }

int64_t set_memory_limit(int64_t bytes) { return update_memory_limit(bytes); }

Stats stats() {
  const CollectorStats c = collector_stats();
  Stats s;
  s.num_gc = c.num_gc;
  s.heap_live = c.heap_live;
  s.heap_alloc = c.heap_alloc;
  s.next_gc = c.next_gc;
  s.freed_objects = c.freed_objects;
  s.last_pause_ns = c.last_pause_ns;
  s.total_pause_ns = c.total_pause_ns;
  s.mark_cpu_ns = c.mark_cpu_ns;
  static_assert(std::tuple_size_v<decltype(s.pause_ns)> == CollectorStats::kPauseRing);
  std::copy(std::begin(c.pause_ns), std::end(c.pause_ns), s.pause_ns.begin());
  std::copy(std::begin(c.pause_end_ns), std::end(c.pause_end_ns), s.pause_end_ns.begin());
  return s;
}

}  // namespace gort::gc
