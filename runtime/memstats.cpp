// gc::read_mem_stats (Go's runtime.ReadMemStats) and gc::free_os_memory
// (Go's debug.FreeOSMemory): what the heap, the stacks and the collector
// count, gathered under Go's names.
#include <algorithm>
#include <cstdint>
#include <iterator>

#include "gc/collector.hpp"
#include "gc/memstats.hpp"
#include "gc/mheap.hpp"
#include "gc/scavenger.hpp"
#include "gc/sweeper.hpp"
#include "gort/gc.hpp"
#include "sched/sched.hpp"
#include "stack/pool.hpp"

namespace gort::gc {

void read_mem_stats(MemStats* m) {
  *m = MemStats{};
  // Frees before allocations: an object is counted allocated before it can
  // be freed, so HeapObjects never goes negative under concurrent sweeping.
  m->Frees = swept_objects_total();
  const uint64_t freed_bytes = swept_bytes_total();
  const AllocTotals allocated = alloc_totals();
  m->Mallocs = std::max(allocated.objects, m->Frees);
  m->TotalAlloc = std::max(allocated.bytes, freed_bytes);
  m->HeapObjects = m->Mallocs - m->Frees;
  m->HeapAlloc = m->Alloc = m->TotalAlloc - freed_bytes;

  const Heap& heap = Heap::get();
  m->HeapSys = heap.bytes_in_spans();
  m->HeapInuse = std::min<uint64_t>(heap.bytes_in_use(), m->HeapSys);
  m->HeapIdle = m->HeapSys - m->HeapInuse;
  m->HeapReleased = std::min<uint64_t>(heap.bytes_released(), m->HeapIdle);

  const stack::Pool::Usage stacks = stack::Pool::get().usage();
  m->StackInuse = stacks.inuse;
  m->StackSys = stacks.sys;
  m->Sys = m->HeapSys + m->StackSys;

  const CollectorStats c = collector_stats();
  m->NextGC = c.next_gc;
  m->NumGC = uint32_t(c.num_gc);
  m->NumForcedGC = uint32_t(c.num_forced_gc);
  m->PauseTotalNs = uint64_t(c.total_pause_ns);
  static_assert(std::tuple_size_v<decltype(m->PauseNs)> == CollectorStats::kPauseRing);
  std::copy(std::begin(c.pause_ns), std::end(c.pause_ns), m->PauseNs.begin());
  std::copy(std::begin(c.pause_end_ns), std::end(c.pause_end_ns), m->PauseEnd.begin());
  if (c.num_gc > 0) m->LastGC = c.pause_end_ns[(c.num_gc - 1) % CollectorStats::kPauseRing];
  // Over the CPU the runtime had since the program started, as Go's.
  if (const int64_t proc_time = sched::proc_time_ns(); proc_time > 0)
    m->GCCPUFraction = double(c.mark_cpu_ns) / double(proc_time);
}

void free_os_memory() {
  collect();
  scavenge_now(SIZE_MAX);
  stack::Pool::get().trim_all();
}

}  // namespace gort::gc
