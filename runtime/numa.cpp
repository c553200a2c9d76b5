// The public face of NUMA placement: gort::numa_stats.
#include "gort/numa.hpp"

#include "gc/mheap.hpp"
#include "runtime/internal/numa.hpp"
#include "sched/sched.hpp"

namespace gort {

NumaStats numa_stats() {
  namespace numa = internal::numa;
  const numa::Topology& t = numa::topology();
  NumaStats s;
  s.mode = t.mode == numa::Mode::kOn ? "on" : t.mode == numa::Mode::kBind ? "bind" : "off";
  s.nodes = t.nodes;
  s.fake = t.fake;
  for (const sched::P* p : sched::sched.allp) {
    s.node_of_p.push_back(p->node);
    s.steals_local += p->steals_local.load(std::memory_order_relaxed);
    s.steals_remote += p->steals_remote.load(std::memory_order_relaxed);
  }
  const gc::Heap& heap = gc::Heap::get();
  s.spans_local = heap.spans_local();
  s.spans_remote = heap.spans_remote();
  if (const uint64_t all = s.spans_local + s.spans_remote) s.span_local_fraction = double(s.spans_local) / double(all);
  s.pages_migrated = numa::pages_migrated();
  return s;
}

}  // namespace gort
