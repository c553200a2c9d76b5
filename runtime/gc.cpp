// The public face of the collector: gc::collect and gc::stats.
#include "gort/gc.hpp"

#include "gc/collector.hpp"

namespace gort::gc {

void collect() { collect_now(); }

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
  return s;
}

}  // namespace gort::gc
