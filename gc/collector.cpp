// The stop-the-world collector (Go's GODEBUG=gcstoptheworld=1 mode) and the
// allocation entry point. A collection: stop the world; return every P's
// cached spans; mark from the roots; sweep; restart the world; run the
// destructors of what died. The next one starts when the heap has grown by
// GOGC percent over what this one found live (Go's heap goal, without the
// pacer's refinements yet).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "gc/collector.hpp"
#include "gc/marker.hpp"
#include "gc/mcache.hpp"
#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "gc/sweeper.hpp"
#include "gort/detail/safepoint.hpp"
#include "runtime/internal/config.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/nanotime.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"
#include "sched/trace.hpp"

namespace gort::gc {

namespace {

constexpr size_t kMinHeapGoal = size_t(4) << 20;  // Go's heapminimum

// GOGC: percent growth over the live heap before the next collection; -1:
// no automatic collection.
int gogc() { return internal::knobs().gogc; }

// GORTGCSTRESS=N: a full collection every N allocations, whatever the heap
// goal says (V8's --gc-interval; Go's gcstoptheworld debug modes serve the
// same end). Shakes out pointers the collector cannot see.
uint64_t gc_stress_interval() { return internal::knobs().gc_stress; }

std::atomic<uint64_t> stress_allocations{0};
std::atomic<bool> collecting{false};
std::atomic<uint64_t> num_gc{0};
std::atomic<size_t> next_gc{kMinHeapGoal};
// What an allocation compares the heap against before anything else: the
// heap goal, or 0 while every allocation must take the slow path (before
// the first one, and always under GORTGCSTRESS), or SIZE_MAX under
// GOGC=off. One load and one compare keep the knobs out of the fast path.
std::atomic<size_t> collect_trigger{0};
std::atomic<size_t> heap_live{0};
std::atomic<uint64_t> freed_total{0};
// What a cycle leaves for gc::stats, written and read together under
// stats_lock so a reader never sees a cycle counted without its pause.
internal::Lock stats_lock;
struct CycleRecord {
  int64_t last_pause = 0;
  int64_t total_pause = 0;
  int64_t mark_cpu = 0;
  uint64_t pause_ns[CollectorStats::kPauseRing] = {};
  uint64_t pause_end_ns[CollectorStats::kPauseRing] = {};
} cycles;
internal::Lock barrier_lock;
Marker* active_marker = nullptr;

bool collect_stopped(internal::RawVector<uintptr_t>* dead);

void run_destructors(const internal::RawVector<uintptr_t>& dead) {
  for (uintptr_t addr : dead) {
    auto* h = reinterpret_cast<Header*>(addr);
    auto* elem = static_cast<char*>(h->object());
    for (uint32_t i = 0; i < h->count; ++i) h->type->destroy(elem + size_t(i) * h->type->elem_size);
    h->flags.fetch_or(Header::kDestroyed, std::memory_order_release);
  }
}

size_t trigger_for(size_t heap_goal) {
  if (gc_stress_interval()) return 0;
  return gogc() < 0 ? std::numeric_limits<size_t>::max() : heap_goal;
}

// The slow path of an allocation that reached collect_trigger.
void collect_if_due() {
  if (const uint64_t every = gc_stress_interval()) {
    if (stress_allocations.fetch_add(1, std::memory_order_relaxed) % every == every - 1) collect_now();
    return;
  }
  const size_t goal = next_gc.load(std::memory_order_relaxed);
  collect_trigger.store(trigger_for(goal), std::memory_order_relaxed);
  if (gogc() >= 0 && size_t(heap_alloc_bytes.load(std::memory_order_relaxed)) >= goal &&
      !collecting.load(std::memory_order_relaxed))
    collect_now();
}

}  // namespace

// The two bytes right before an object always hold its offset: they are the
// header's own `offset` field when it is 0, and a copy of it in the padding
// otherwise. So the owner of an object finds its header without a lookup
// (find_object reads allocation bits that other Ps are writing).
Header* Header::of(void* object) {
  uint16_t offset;
  std::memcpy(&offset, static_cast<char*>(object) - sizeof offset, sizeof offset);
  return reinterpret_cast<Header*>(static_cast<char*>(object) - offset - sizeof(Header));
}

namespace detail {

std::atomic<bool> write_barrier_enabled{false};

// Dijkstra's insertion barrier: the new target is shaded so a black object
// never points to a white one. Enabled only while marking runs concurrently
// with goroutines, which the stop-the-world collector never does.
void write_barrier_slow(const void*, const void* new_value) {
  internal::LockGuard l(barrier_lock);
  if (active_marker) active_marker->mark(reinterpret_cast<uintptr_t>(new_value));
}

void* alloc_object(const TypeInfo* type, size_t count) {
  sched::M* m = sched::current_m();
  // The collector stops and scans goroutines only; an allocation anywhere
  // else would race with it from a cache it does not own.
  if (!m || !m->curg)
    internal::fatal(
        "gc::make outside a goroutine (a thread outside the runtime, or before gort::run): "
        "allocate collected objects from goroutines only");
  if (m->in_blocking_call())
    internal::fatal("gc::make inside gort::blocking: allocate before or after the blocking call");
  const size_t align = std::max<size_t>(type->elem_align, alignof(Header));
  const size_t slack = align - alignof(Header);  // room to move an over-aligned object up
  constexpr size_t kMaxBytes = std::numeric_limits<size_t>::max() / 2;
  size_t payload;  // a multiply that reports overflow: a division here costs more than the rest
  if (count > std::numeric_limits<uint32_t>::max() || __builtin_mul_overflow(type->elem_size, count, &payload) ||
      payload > kMaxBytes - sizeof(Header) - slack)
    throw std::bad_array_new_length();
  const size_t bytes = sizeof(Header) + slack + payload;

  if (size_t(heap_alloc_bytes.load(std::memory_order_relaxed)) >= collect_trigger.load(std::memory_order_relaxed)) {
    collect_if_due();
    m = sched::current_m();  // the goroutine may have moved to another thread
  }
  if (!m->p->mcache) m->p->mcache = new MCache;  // here, where malloc may run
  // The allocator must not be stopped halfway by the stop signal: the
  // collector is about to take its cached spans.
  internal::add_locks_held(1);
  size_t dirty_from;
  auto* h = static_cast<Header*>(mallocgc_on(m, bytes, type->trace == nullptr, &dirty_from));
  const uintptr_t natural = reinterpret_cast<uintptr_t>(h) + sizeof(Header);
  h->type = nullptr;  // pointer-free bytes to the collector until zeroed
  h->count = uint32_t(count);
  h->flags.store(0, std::memory_order_relaxed);
  h->offset = uint16_t(((natural + align - 1) & ~(align - 1)) - natural);
  internal::add_locks_held(-1);
  if (dirty_from < bytes) std::memset(reinterpret_cast<char*>(h) + dirty_from, 0, bytes - dirty_from);
  h->type = type;
  void* object = h->object();
  if (h->offset != 0) std::memcpy(static_cast<char*>(object) - sizeof h->offset, &h->offset, sizeof h->offset);
  return object;
}

void mark_constructed(void* obj) { Header::of(obj)->flags.fetch_or(Header::kConstructed, std::memory_order_release); }

}  // namespace detail

void collect_now() {
  gort::detail::safepoint();
  if (!sched::current_g()) internal::fatal("gc::collect outside a goroutine");
  if (sched::current_m()->in_blocking_call()) internal::fatal("gc::collect inside gort::blocking");
  const uint64_t seen = num_gc.load(std::memory_order_acquire);
  // One collection at a time. Whoever finds one running waits for it to
  // end: it yields, and its P is stopped with the others during the pause.
  while (collecting.exchange(true, std::memory_order_acq_rel)) {
    if (num_gc.load(std::memory_order_acquire) != seen) return;
    sched::yield();
  }
  internal::RawVector<uintptr_t> dead;
  // Somebody else collected while we waited: that was the collection asked for.
  const bool done = num_gc.load(std::memory_order_acquire) != seen || collect_stopped(&dead);
  collecting.store(false, std::memory_order_release);
  if (!done) return;  // the runtime is shutting down
  // Outside the pause: destructors may take as long as they like, and may
  // allocate.
  run_destructors(dead);
}

namespace {

// Nothing from here to start_the_world may call malloc or free: a thread
// stopped by signal may hold the allocator's locks.
bool collect_stopped(internal::RawVector<uintptr_t>* dead) {
  namespace trace = sched::trace;
  if (trace::on()) {
    trace::gc_event(trace::Ev::kGcBegin, num_gc.load(std::memory_order_relaxed) + 1);
    trace::gc_event(trace::Ev::kHeap, uint64_t(heap_alloc_bytes.load(std::memory_order_relaxed)),
                    next_gc.load(std::memory_order_relaxed));
    trace::gc_event(trace::Ev::kStwBegin, 0, reinterpret_cast<uintptr_t>("GC"));
  }
  // Runtime code from here to the restart: never stopped by signal.
  ++internal::locks_held();
  const sched::StwStats stw = sched::stop_the_world();
  if (!stw.stopped) {
    --internal::locks_held();
    if (trace::on()) {
      trace::gc_event(trace::Ev::kStwEnd);
      trace::gc_event(trace::Ev::kGcEnd);
    }
    return false;
  }
  if (trace::on())
    trace::gc_event(trace::Ev::kStwStopped, uint64_t(stw.wait_ns),
                    uint64_t(stw.stopped_by_signal + stw.blocking_threads));
  const int64_t start = internal::nanotime();
  for (sched::P* p : sched::sched.allp)
    if (p->mcache) p->mcache->release_all();
  for (Span* s : Heap::get().in_use_spans())
    for (size_t w = 0; w < s->bitmap_words(); ++w) s->mark_bits[w].store(0, std::memory_order_relaxed);
  Marker marker;
  {
    internal::LockGuard l(barrier_lock);
    active_marker = &marker;
  }
  if (trace::on()) trace::gc_event(trace::Ev::kMarkBegin);
  const int64_t mark_start = internal::nanotime();
  marker.mark_roots();
  marker.drain();
  const int64_t mark_cpu = internal::nanotime() - mark_start;  // one thread marks, inside the pause
  if (trace::on()) trace::gc_event(trace::Ev::kMarkEnd);
  {
    internal::LockGuard l(barrier_lock);
    active_marker = nullptr;
  }
  if (trace::on()) trace::gc_event(trace::Ev::kSweepBegin);
  SweepResult swept = sweep();
  if (trace::on()) trace::gc_event(trace::Ev::kSweepEnd, swept.freed_objects, swept.live_bytes);
  heap_alloc_bytes.store(int64_t(swept.live_bytes), std::memory_order_relaxed);
  heap_live.store(swept.live_bytes, std::memory_order_relaxed);
  const int percent = gogc() < 0 ? 100 : gogc();
  const size_t goal = std::max(kMinHeapGoal, swept.live_bytes + swept.live_bytes * size_t(percent) / 100);
  next_gc.store(goal, std::memory_order_relaxed);
  collect_trigger.store(trigger_for(goal), std::memory_order_relaxed);
  freed_total.fetch_add(swept.freed_objects, std::memory_order_relaxed);
  const int64_t pause = internal::nanotime() - start;
  {
    internal::LockGuard l(stats_lock);
    const size_t slot = num_gc.load(std::memory_order_relaxed) % CollectorStats::kPauseRing;
    cycles.last_pause = pause;
    cycles.total_pause += pause;
    cycles.mark_cpu += mark_cpu;
    cycles.pause_ns[slot] = uint64_t(pause);
    cycles.pause_end_ns[slot] = uint64_t(internal::walltime());
    num_gc.fetch_add(1, std::memory_order_release);
  }
  if (trace::on()) trace::gc_event(trace::Ev::kHeap, swept.live_bytes, goal);
  sched::start_the_world();
  --internal::locks_held();
  if (trace::on()) {
    trace::gc_event(trace::Ev::kStwEnd);
    trace::gc_event(trace::Ev::kGcEnd);
  }
  *dead = std::move(swept.to_destroy);
  return true;
}

}  // namespace

CollectorStats collector_stats() {
  CollectorStats s;
  s.heap_live = heap_live.load();
  s.heap_alloc = size_t(std::max<int64_t>(0, heap_alloc_bytes.load()));
  s.next_gc = next_gc.load();
  s.freed_objects = freed_total.load();
  internal::LockGuard l(stats_lock);
  s.num_gc = num_gc.load();
  s.last_pause_ns = cycles.last_pause;
  s.total_pause_ns = cycles.total_pause;
  s.mark_cpu_ns = cycles.mark_cpu;
  std::copy(std::begin(cycles.pause_ns), std::end(cycles.pause_ns), s.pause_ns);
  std::copy(std::begin(cycles.pause_end_ns), std::end(cycles.pause_end_ns), s.pause_end_ns);
  return s;
}

}  // namespace gort::gc
