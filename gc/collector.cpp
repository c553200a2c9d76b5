// The collector's cycle and the allocation entry point. A cycle: finish
// the previous cycle's sweep (sweep termination); stop the world; return
// every P's cached spans; mark from the roots; make every span unswept;
// restart the world. Sweeping then happens beside the program (sweeper.hpp):
// in the allocator, in a background goroutine, and in gc::collect, which
// returns only once all is swept and the destructors of what died have run.
// Marking still happens inside the pause (Go's GODEBUG=gcstoptheworld=1
// mark). The next cycle starts when the heap has grown by GOGC percent over
// what this one marked (Go's heap goal, without the pacer's refinements
// yet).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "gc/collector.hpp"
#include "gc/gctrace.hpp"
#include "gc/marker.hpp"
#include "gc/mcache.hpp"
#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "gc/sweeper.hpp"
#include "gort/detail/safepoint.hpp"
#include "runtime/internal/config.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/stack_pointer.hpp"
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
std::atomic<uint64_t> cycles_started{0};  // num_gc counts the ended ones
std::atomic<uint64_t> num_gc{0};
std::atomic<size_t> next_gc{kMinHeapGoal};
// What an allocation compares the heap against before anything else: the
// heap goal, or 0 while every allocation must take the slow path (before
// the first one, and always under GORTGCSTRESS), or SIZE_MAX under
// GOGC=off. One load and one compare keep the knobs out of the fast path.
std::atomic<size_t> collect_trigger{0};
std::atomic<size_t> heap_live{0};
// What a cycle leaves for gc::stats, written and read together under
// stats_lock so a reader never sees a cycle counted without its pause.
internal::Lock stats_lock;
// Only the pause fields are kept here; collector_stats fills in the rest.
CollectorStats cycles;
internal::Lock barrier_lock;
Marker* active_marker = nullptr;

bool collect_stopped(uintptr_t caller_frames_from, CycleTrace* trace);

// Whether the goroutine that asked for a cycle waits for its sweep and
// destructors (gc::collect, as Go's runtime.GC) or leaves them to the
// background sweeper (a cycle the heap goal triggered).
enum class AfterCycle { kFinishSweep, kSweepInBackground };
void gc_cycle(AfterCycle after);

size_t trigger_for(size_t heap_goal) {
  if (gc_stress_interval()) return 0;
  return gogc() < 0 ? std::numeric_limits<size_t>::max() : heap_goal;
}

// The slow path of an allocation that reached collect_trigger.
void collect_if_due() {
  if (const uint64_t every = gc_stress_interval()) {
    if (stress_allocations.fetch_add(1, std::memory_order_relaxed) % every == every - 1)
      gc_cycle(AfterCycle::kSweepInBackground);
    return;
  }
  const size_t goal = next_gc.load(std::memory_order_relaxed);
  collect_trigger.store(trigger_for(goal), std::memory_order_relaxed);
  if (gogc() >= 0 && size_t(heap_alloc_bytes.load(std::memory_order_relaxed)) >= goal &&
      !collecting.load(std::memory_order_relaxed))
    gc_cycle(AfterCycle::kSweepInBackground);
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
  if (!m->p->mcache) m->p->mcache = new MCache(m->p->node);  // here, where malloc may run
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

void mark_constructed(void* obj) {
  Header* h = Header::of(obj);
  h->flags.fetch_or(Header::kConstructed, std::memory_order_release);
  Span* s = Heap::get().span_of(reinterpret_cast<uintptr_t>(h));
  if (!s->may_owe_destructors.load(std::memory_order_relaxed))
    s->may_owe_destructors.store(true, std::memory_order_relaxed);
}

}  // namespace detail

void collect_now() { gc_cycle(AfterCycle::kFinishSweep); }

namespace {

// Not inlined, and with every callee-saved register spilled into its own
// frame: from its stack pointer up lies all the caller may still use.
__attribute__((noinline)) void gc_cycle(AfterCycle after) {
  __builtin_unwind_init();
  const uintptr_t caller_frames_from = internal::stack_pointer();
  gort::detail::safepoint();
  if (!sched::current_g()) internal::fatal("gc::collect outside a goroutine");
  if (sched::current_m()->in_blocking_call()) internal::fatal("gc::collect inside gort::blocking");
  // The cycle asked for: gc::collect wants one that starts after this call
  // (as Go's runtime.GC: one already marking may have seen garbage still
  // live); the heap goal is met by any that ends after it.
  const uint64_t wanted = after == AfterCycle::kFinishSweep ? cycles_started.load(std::memory_order_acquire) + 1
                                                            : num_gc.load(std::memory_order_acquire) + 1;
  while (num_gc.load(std::memory_order_acquire) < wanted) {
    // One cycle at a time. Whoever finds one running waits for it to end:
    // it yields, and its P is stopped with the others during the pause.
    if (collecting.exchange(true, std::memory_order_acq_rel)) {
      sched::yield();
      continue;
    }
    if (num_gc.load(std::memory_order_acquire) >= wanted) {
      collecting.store(false, std::memory_order_release);
      break;
    }
    // Sweep termination: marking needs every span swept. With the token
    // held no cycle can start, and sweep_one never yields (a goroutine
    // abandoned at shutdown while holding the token would block every
    // later run's cycles); spans other sweepers hold are done before the
    // world stops, since they cannot be stopped halfway.
    while (sweep_one()) {
    }
    CycleTrace trace;
    trace.heap_start = size_t(std::max<int64_t>(0, heap_alloc_bytes.load(std::memory_order_relaxed)));
    trace.heap_goal = next_gc.load(std::memory_order_relaxed);
    trace.forced = after == AfterCycle::kFinishSweep;
    cycles_started.fetch_add(1, std::memory_order_acq_rel);
    const bool ran = collect_stopped(caller_frames_from, &trace);
    // Before the next cycle may start, as Go prints before it lets one.
    if (ran && internal::knobs().gctrace > 0) print_gctrace(trace);
    collecting.store(false, std::memory_order_release);
    if (!ran) return;  // the runtime is shutting down
  }
  if (after == AfterCycle::kSweepInBackground) {
    start_background_sweeper();
    return;
  }
  // Outside the pause: destructors may take as long as they like, and may
  // allocate.
  finish_sweep();
  run_due_destructors();
}

// Checked builds: nothing may be marked before it was swept.
void assert_all_swept() {
  if constexpr (GORT_CHECKS) {
    const uint32_t gen = current_sweepgen();
    for (Span* s : Heap::get().in_use_spans()) GORT_CHECK(s->sweepgen == gen, "every span is swept before marking");
  }
}

// Nothing from here to start_the_world may call malloc or free: a thread
// stopped by signal may hold the allocator's locks.
bool collect_stopped(uintptr_t caller_frames_from, CycleTrace* cycle) {
  namespace trace = sched::trace;
  if (trace::on()) {
    trace::gc_event(trace::Ev::kGcBegin, num_gc.load(std::memory_order_relaxed) + 1);
    trace::gc_event(trace::Ev::kHeap, uint64_t(heap_alloc_bytes.load(std::memory_order_relaxed)),
                    next_gc.load(std::memory_order_relaxed));
    trace::gc_event(trace::Ev::kStwBegin, 0, reinterpret_cast<uintptr_t>("GC"));
  }
  // Runtime code from here to the restart: never stopped by signal.
  internal::add_locks_held(1);
  cycle->sweep_term_start = internal::nanotime();
  const sched::StwStats stw = sched::stop_the_world();
  if (!stw.stopped) {
    internal::add_locks_held(-1);
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
  cycle->stopped = start;
  for (sched::P* p : sched::sched.allp)
    if (p->mcache) p->mcache->release_all();
  assert_all_swept();
  Marker marker(caller_frames_from, sched::current_m()->p->node);
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
  // As Go: what was marked is the live heap, and allocation counts on from
  // there (the caches were emptied above).
  const size_t live = marker.marked_bytes();
  cycle->heap_marked_end = size_t(std::max<int64_t>(0, heap_alloc_bytes.load(std::memory_order_relaxed)));
  cycle->heap_live = live;
  cycle->stack_bytes = marker.stack_bytes();
  cycle->global_bytes = marker.root_range_bytes();
  cycle->procs = int(sched::sched.allp.size());
  heap_alloc_bytes.store(int64_t(live), std::memory_order_relaxed);
  heap_live.store(live, std::memory_order_relaxed);
  const int percent = gogc() < 0 ? 100 : gogc();
  const size_t goal = std::max(kMinHeapGoal, live + live * size_t(percent) / 100);
  next_gc.store(goal, std::memory_order_relaxed);
  collect_trigger.store(trigger_for(goal), std::memory_order_relaxed);
  begin_sweep_cycle();
  const int64_t pause = internal::nanotime() - start;
  {
    internal::LockGuard l(stats_lock);
    const size_t slot = num_gc.load(std::memory_order_relaxed) % CollectorStats::kPauseRing;
    cycles.last_pause_ns = pause;
    cycles.total_pause_ns += pause;
    cycles.mark_cpu_ns += mark_cpu;
    cycles.pause_ns[slot] = uint64_t(pause);
    cycles.pause_end_ns[slot] = uint64_t(internal::walltime());
    cycle->number = num_gc.fetch_add(1, std::memory_order_release) + 1;
  }
  if (trace::on()) trace::gc_event(trace::Ev::kHeap, live, goal);
  sched::start_the_world();
  cycle->end = internal::nanotime();
  internal::add_locks_held(-1);
  if (trace::on()) {
    trace::gc_event(trace::Ev::kStwEnd);
    trace::gc_event(trace::Ev::kGcEnd);
  }
  return true;
}

}  // namespace

CollectorStats collector_stats() {
  CollectorStats s;
  s.heap_live = heap_live.load();
  s.heap_alloc = size_t(std::max<int64_t>(0, heap_alloc_bytes.load()));
  s.next_gc = next_gc.load();
  s.freed_objects = swept_objects_total();
  internal::LockGuard l(stats_lock);
  s.num_gc = num_gc.load();
  s.last_pause_ns = cycles.last_pause_ns;
  s.total_pause_ns = cycles.total_pause_ns;
  s.mark_cpu_ns = cycles.mark_cpu_ns;
  std::copy(std::begin(cycles.pause_ns), std::end(cycles.pause_ns), s.pause_ns);
  std::copy(std::begin(cycles.pause_end_ns), std::end(cycles.pause_end_ns), s.pause_end_ns);
  return s;
}

}  // namespace gort::gc
