// The collector's cycle (Go's mgc.go: gcStart, gcMarkDone,
// gcMarkTermination), in Go's four phases:
//
//  1. Sweep termination. The goroutine that starts the cycle finishes the
//     last cycle's sweep beside the program, then stops the world briefly:
//     it turns on the write barrier and black allocation, numbers the cycle
//     (sched/gcscan.hpp), sets up the root jobs, and restarts the world.
//     Nothing in this pause depends on the number of goroutines or the size
//     of the heap.
//  2. Concurrent mark. Background workers, idle Ps and allocating
//     goroutines (markworker.hpp) take root jobs and grey objects while the
//     program runs; the write barrier (barrier.hpp) shades what the program
//     moves around; each goroutine's stack is scanned while it is parked,
//     or by itself at a safe point (roots.hpp).
//  3. Mark termination. A worker that finds nothing left stops the world
//     again: what the write barriers shaded since, the stacks still owed a
//     scan, and what they reach are marked; under GODEBUG=gccheckmark=1 the
//     marking is verified (checkmark.hpp); the next heap goal is set, the
//     allocation caches are emptied and every span becomes unswept.
//  4. Concurrent sweep (sweeper.hpp), until the next cycle's phase 1.
//
// GODEBUG=gcstoptheworld=1 does phases 1 to 3 in one pause, as gort did
// before (and Go before 1.5). The next cycle starts when the heap reaches
// the trigger the pacer set (pacer.hpp), so that marking ends near the
// goal.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "gc/barrier.hpp"
#include "gc/checkmark.hpp"
#include "gc/forcegc.hpp"
#include "gc/collector.hpp"
#include "gc/gctrace.hpp"
#include "gc/marker.hpp"
#include "gc/markworker.hpp"
#include "gc/mcache.hpp"
#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "gc/pacer.hpp"
#include "gc/roots.hpp"
#include "gc/scavenger.hpp"
#include "gc/sizeclass.hpp"
#include "gc/sweeper.hpp"
#include "gc/workbuf.hpp"
#include "gort/detail/safepoint.hpp"
#include "runtime/internal/check.hpp"
#include "runtime/internal/config.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/stack_pointer.hpp"
#include "sched/gcscan.hpp"
#include "sched/sched.hpp"
#include "sched/sema.hpp"
#include "sched/stw.hpp"
#include "sched/trace.hpp"

namespace gort::gc {

namespace {

// While marking, an assist every time the heap grows this much.
constexpr size_t kAssistQuantum = size_t(64) << 10;

// GORTGCSTRESS=N: a full collection every N allocations, whatever the heap
// goal says (V8's --gc-interval; Go's gcstoptheworld debug modes serve the
// same end). Shakes out pointers the collector cannot see.
uint64_t gc_stress_interval() { return internal::knobs().gc_stress; }

std::atomic<uint64_t> stress_allocations{0};
// Held from a cycle's start to the end of its mark termination.
std::atomic<bool> collecting{false};
std::atomic<uint64_t> cycles_started{0};  // num_gc counts the ended ones
std::atomic<uint64_t> num_gc{0};
// What an allocation compares the heap against before anything else: the
// pacer's trigger, or the next assist while marking, or 0 while every
// allocation must take the slow path (before the first one, and always
// under GORTGCSTRESS), or SIZE_MAX under GOGC=off without a memory limit.
// One load and one compare keep the knobs out of the fast path.
std::atomic<size_t> collect_trigger{0};
std::atomic<size_t> heap_live{0};
// While marking: the heap size up to which allocation has paid its assists.
std::atomic<size_t> assisted_up_to{0};
// Goroutines waiting for a cycle to end (a notify list, as sync.Cond's).
std::atomic<uint32_t> cycle_end_wait{0};
std::atomic<uint32_t> cycle_end_notify{0};
// What a cycle leaves for gc::stats, written and read together under
// stats_lock so a reader never sees a cycle counted without its pause.
internal::Lock stats_lock;
// Only the pause fields are kept here; collector_stats fills in the rest.
CollectorStats cycles;

// The cycle being marked: written in its first pause.
struct Cycle {
  CycleTrace trace;
  int64_t first_pause_ns = 0;
  int64_t expected_scan_work = 0;
  size_t goal = 0;
};
Cycle cycle;

// Parks until `wanted` cycles have ended, or none runs any more.
void wait_for_cycle(uint64_t wanted) {
  while (num_gc.load(std::memory_order_acquire) < wanted) {
    const uint32_t ticket = sched::notify_list_add(&cycle_end_wait);
    if (num_gc.load(std::memory_order_acquire) >= wanted || !collecting.load(std::memory_order_acquire)) return;
    sched::notify_list_wait(&cycle_end_wait, &cycle_end_notify, ticket);
  }
}

size_t trigger_for(size_t trigger) { return gc_stress_interval() ? 0 : trigger; }

size_t heap_alloc_now() { return size_t(std::max<int64_t>(0, heap_alloc_bytes.load(std::memory_order_relaxed))); }

// Whether the goroutine that asked for a cycle waits for it to end and
// then for its sweep and destructors (gc::collect, as Go's runtime.GC), for
// its end only (GORTGCSTRESS), or for nothing (the heap reached the
// trigger: workers and assists carry the cycle).
enum class AfterCycle { kFinishSweep, kWaitForEnd, kContinue };
void gc_cycle(AfterCycle after);

// The slow path of an allocation that reached collect_trigger.
void collect_if_due() {
  // A safe point, as Go's mallocgc is one: a goroutine that only allocates
  // still stops for the world (a cycle that is starting, with the heap past
  // its trigger, would otherwise wait while this goroutine allocates on
  // without bound), scans its own stack when asked, and stops for mark
  // termination.
  gort::detail::safepoint();
  if (const uint64_t every = gc_stress_interval()) {
    if (stress_allocations.fetch_add(1, std::memory_order_relaxed) % every == every - 1)
      gc_cycle(AfterCycle::kWaitForEnd);
    return;
  }
  const size_t heap = heap_alloc_now();
  if (sched::gcscan.marking.load(std::memory_order_acquire)) {
    collect_trigger.store(heap + kAssistQuantum, std::memory_order_relaxed);
    // The growth since the last assist, whoever allocated it, is paid now.
    // The CPU limiter may have switched assists off (pacer.hpp).
    const size_t last = assisted_up_to.exchange(heap, std::memory_order_relaxed);
    if (heap > last && Pacer::get().assists_enabled() &&
        !mark_assist(heap - last, heap, cycle.goal, cycle.expected_scan_work)) {
      // Time the allocation waits for marking is the collector's, as Go's
      // CPU limiter counts assists parked on its queue.
      const int64_t waited_from = internal::nanotime();
      wait_for_cycle(num_gc.load(std::memory_order_acquire) + 1);
      Pacer::get().count_assist_wait(internal::nanotime() - waited_from);
    }
    return;
  }
  const size_t trigger = Pacer::get().trigger();
  collect_trigger.store(trigger_for(trigger), std::memory_order_relaxed);
  if (heap >= trigger && !collecting.load(std::memory_order_relaxed)) gc_cycle(AfterCycle::kContinue);
}

}  // namespace

namespace detail {

void* alloc_object(const TypeInfo* type, size_t count) {
  // A safe point, as Go's mallocgc is (its prologue checks for preemption):
  // a goroutine that only allocates would otherwise hold off a stop of the
  // world until the preempt signal, 100 us later, in every pause.
  gort::detail::safepoint();
  sched::M* m = sched::current_m();
  // The collector stops and scans goroutines only; an allocation anywhere
  // else would race with it from a cache it does not own.
  if (!m || !m->curg)
    internal::fatal(
        "gc::make outside a goroutine (a thread outside the runtime, or before gort::run): "
        "allocate collected objects from goroutines only");
  if (m->in_blocking_call())
    internal::fatal("gc::make inside gort::blocking: allocate before or after the blocking call");
  // An array, or a type aligned beyond the header, needs the long form
  // (object.hpp); an over-aligned one also room to move up in its slot,
  // whose start is only sure to be 8-aligned.
  const size_t align = std::max<size_t>(type->elem_align, alignof(Header));
  const bool long_form = count != 1 || align > alignof(Header);
  const size_t head_bytes = long_form ? kLongHeaderBytes : kShortHeaderBytes;
  const size_t slack = align - alignof(Header);
  constexpr size_t kMaxBytes = std::numeric_limits<size_t>::max() / 2;
  size_t payload;  // a multiply that reports overflow: a division here costs more than the rest
  if (count > std::numeric_limits<uint32_t>::max() || __builtin_mul_overflow(type->elem_size, count, &payload) ||
      payload > kMaxBytes - head_bytes - slack)
    throw std::bad_array_new_length();
  const size_t bytes = head_bytes + slack + payload;

  if (size_t(heap_alloc_bytes.load(std::memory_order_relaxed)) >= collect_trigger.load(std::memory_order_relaxed)) {
    collect_if_due();
    m = sched::current_m();  // the goroutine may have moved to another thread
  }
  if (!m->p->mcache) m->p->mcache = new MCache(m->p->node);  // here, where malloc may run
  // The allocator must not be stopped halfway by the stop signal: the
  // collector is about to take its cached spans.
  internal::add_locks_held(1);
  size_t dirty_from;
  const auto slot = reinterpret_cast<uintptr_t>(mallocgc_on(m, bytes, type->trace == nullptr, &dirty_from));
  const uintptr_t natural = slot + head_bytes;
  const uintptr_t object = (natural + align - 1) & ~(align - 1);
  auto* h = reinterpret_cast<Header*>(object) - 1;
  // Pointer-free bytes to a marker until zeroed and typed (marker.cpp reads
  // the type last): the first word says the layout, the header no type yet.
  if (long_form)
    reinterpret_cast<std::atomic<uint64_t>*>(slot)->store(Extent::encode(uint32_t(count), uint16_t(object - natural)),
                                                          std::memory_order_relaxed);
  h->word.store(0, std::memory_order_relaxed);
  internal::add_locks_held(-1);
  if (dirty_from < bytes) std::memset(reinterpret_cast<char*>(slot) + dirty_from, 0, bytes - dirty_from);
  h->word.store(reinterpret_cast<uint64_t>(type), std::memory_order_release);
  return reinterpret_cast<void*>(object);
}

void mark_constructed(void* obj) {
  Header* h = Header::of(obj);
  h->word.fetch_or(Header::kConstructed, std::memory_order_release);
  Span* s = Heap::get().span_of(reinterpret_cast<uintptr_t>(h));
  if (!s->may_owe_destructors.load(std::memory_order_relaxed))
    s->may_owe_destructors.store(true, std::memory_order_relaxed);
}

}  // namespace detail

void collect_now() { gc_cycle(AfterCycle::kFinishSweep); }

void start_periodic_cycle() { gc_cycle(AfterCycle::kContinue); }

namespace {

// Checked builds: nothing may be marked before it was swept.
void assert_all_swept() {
  if constexpr (GORT_CHECKS) {
    const uint32_t gen = current_sweepgen();
    for (Span* s : Heap::get().in_use_spans()) GORT_CHECK(s->sweepgen == gen, "every span is swept before marking");
  }
}

int current_node() { return sched::current_m()->p->node; }

// Mark termination's work once the world is stopped: the marking that is
// left, the next goal, the sweep. pause_began: when the stop was asked for.
void complete_cycle_stopped(int64_t pause_began);

// Stops the world for one of the cycle's pauses (`why` names it in the
// trace), with the caller never stopped by signal until restart_world.
// Returns when it stopped, or 0 when the runtime is shutting down (nothing
// stopped, the cycle over as far as the trace goes).
int64_t stop_world(const char* why) {
  namespace trace = sched::trace;
  if (trace::on()) trace::gc_event(trace::Ev::kStwBegin, 0, reinterpret_cast<uintptr_t>(why));
  internal::add_locks_held(1);
  const sched::StwStats stw = sched::stop_the_world();
  if (!stw.stopped) {
    internal::add_locks_held(-1);
    if (trace::on()) {
      trace::gc_event(trace::Ev::kStwEnd);
      trace::gc_event(trace::Ev::kGcEnd);
    }
    return 0;
  }
  if (trace::on())
    trace::gc_event(trace::Ev::kStwStopped, uint64_t(stw.wait_ns),
                    uint64_t(stw.stopped_by_signal + stw.blocking_threads));
  return internal::nanotime();
}

// Restarts what stop_world stopped; `next` is the trace's next phase (mark,
// or the cycle's end). Returns when the world restarted.
int64_t restart_world(sched::trace::Ev next) {
  namespace trace = sched::trace;
  const int64_t restarted = sched::start_the_world();
  internal::add_locks_held(-1);
  if (trace::on()) {
    trace::gc_event(trace::Ev::kStwEnd);
    trace::gc_event(next);
  }
  return restarted;
}

// Sweep termination (phase 1). The caller holds `collecting`. False when
// the runtime is shutting down.
bool start_cycle(bool forced) {
  namespace trace = sched::trace;
  // Marking needs every span swept. With the token held no cycle can
  // start, and sweep_one never yields (a goroutine abandoned at shutdown
  // while holding the token would block every later run's cycles); spans
  // other sweepers hold are done before the world stops, since they cannot
  // be stopped halfway.
  while (sweep_one()) {
  }
  CycleTrace& t = cycle.trace;
  t = CycleTrace{};
  t.heap_start = heap_alloc_now();
  t.heap_goal = Pacer::get().goal();
  t.forced = forced;
  if (trace::on()) {
    trace::gc_event(trace::Ev::kGcBegin, num_gc.load(std::memory_order_relaxed) + 1);
    trace::gc_event(trace::Ev::kHeap, t.heap_start, t.heap_goal);
  }
  t.sweep_term_start = internal::nanotime();
  const int64_t stopped = stop_world("GC sweep termination");
  if (!stopped) return false;
  assert_all_swept();
  cycles_started.fetch_add(1, std::memory_order_acq_rel);
  mark_totals.reset();
  for (sched::P* p : sched::sched.allp)
    if (p->mcache) p->mcache->black_bytes = 0;
  cycle.expected_scan_work = Pacer::get().expected_scan_work();
  cycle.goal = t.heap_goal;
  const internal::Knobs& knobs = internal::knobs();
  set_barrier_mode(knobs.gc_barrier_hybrid);
  sched::gcscan.rescan_after_run = !knobs.gc_barrier_hybrid;
  // Never 0: a G record that was never scanned holds 0.
  if (sched::gcscan.cycle.fetch_add(1, std::memory_order_relaxed) + 1 == 0)
    sched::gcscan.cycle.store(1, std::memory_order_relaxed);
  prepare_root_jobs();
  prepare_mark_workers(int(sched::sched.allp.size()));
  sched::gcscan.marking.store(true, std::memory_order_release);
  detail::write_barrier_enabled.store(true, std::memory_order_release);
  assisted_up_to.store(t.heap_start, std::memory_order_relaxed);
  collect_trigger.store(gc_stress_interval() ? 0 : t.heap_start + kAssistQuantum, std::memory_order_relaxed);
  if (knobs.gcstoptheworld) {
    // The whole mark in this one pause.
    if (trace::on()) trace::gc_event(trace::Ev::kMarkBegin);
    {
      Marker m(current_node());
      while (run_root_job(m)) {
      }
      scan_owed_in_pause(m);
      m.drain(-1);
    }
    if (trace::on()) trace::gc_event(trace::Ev::kMarkEnd);
    t.mark_start = t.mark_term_start = t.sweep_term_start;
    cycle.first_pause_ns = 0;
    complete_cycle_stopped(t.sweep_term_start);
    return true;
  }
  Pacer::get().trace_start(t.heap_start, dedicated_mark_workers(), fractional_mark_goal());
  t.mark_start = restart_world(trace::Ev::kMarkBegin);
  // As Go's pauseNS: from the request to stop to the world running again.
  cycle.first_pause_ns = t.mark_start - t.sweep_term_start;
  wake_mark_workers();
  return true;
}

// After the restart that ends a cycle: its line, its waiters, its sweep.
void after_cycle() {
  if (internal::knobs().gctrace > 0) print_gctrace(cycle.trace);
  note_cycle_end_for_periodic_gc(internal::nanotime());
  collecting.store(false, std::memory_order_release);
  sched::notify_list_notify_all(&cycle_end_wait, &cycle_end_notify);
  start_background_sweeper();
  // The limit presses: free pages go back to the OS now, not at the
  // scavenger's 1% pace (Go's scavenger does the same under the limit).
  if (const size_t over = Pacer::get().over_memory_limit()) scavenge_now(over);
}

void complete_cycle_stopped(int64_t pause_began) {
  namespace trace = sched::trace;
  CycleTrace& t = cycle.trace;
  if (internal::knobs().gccheckmark) verify_marking();
  sched::gcscan.marking.store(false, std::memory_order_release);
  detail::write_barrier_enabled.store(false, std::memory_order_release);
  int64_t black = 0;
  for (sched::P* p : sched::sched.allp) {
    if (!p->mcache) continue;
    black += p->mcache->black_bytes;
    p->mcache->release_all();
  }
  // As Go: what was marked, allocated black included, is the live heap,
  // and allocation counts on from there (the caches were emptied above).
  const size_t live = size_t(std::max<int64_t>(0, mark_totals.marked_bytes.load() + black));
  t.heap_marked_end = heap_alloc_now();
  t.heap_live = live;
  t.stack_bytes = size_t(mark_totals.stack_bytes.load());
  t.global_bytes = size_t(mark_totals.root_bytes.load());
  t.procs = int(sched::sched.allp.size());
  t.assist_ns = assist_cpu_ns();
  t.worker_ns = worker_cpu_ns();
  t.idle_ns = idle_mark_cpu_ns();
  heap_alloc_bytes.store(int64_t(live), std::memory_order_relaxed);
  heap_live.store(live, std::memory_order_relaxed);
  begin_sweep_cycle();
  // Go ends the second pause here too, before the world restarts.
  const int64_t pause = cycle.first_pause_ns + (internal::nanotime() - pause_began);
  CycleMeasure measure;
  measure.marked = live;
  measure.stack_bytes = t.stack_bytes;
  measure.global_bytes = t.global_bytes;
  measure.heap_at_trigger = t.heap_start;
  measure.heap_at_mark_end = t.heap_marked_end;
  measure.scan_work = mark_totals.scan_work.load() + mark_totals.stack_bytes.load() + mark_totals.root_bytes.load();
  measure.mark_cpu_ns = t.assist_ns + t.worker_ns + t.idle_ns;
  measure.mark_wall_ns = t.mark_term_start - t.mark_start;
  measure.pause_ns = pause;
  measure.procs = t.procs;
  Pacer& pacer = Pacer::get();
  pacer.end_cycle(measure);
  const size_t goal = pacer.goal();
  collect_trigger.store(trigger_for(pacer.trigger()), std::memory_order_relaxed);
  {
    internal::LockGuard l(stats_lock);
    const size_t slot = num_gc.load(std::memory_order_relaxed) % CollectorStats::kPauseRing;
    cycles.last_pause_ns = pause;
    cycles.total_pause_ns += pause;
    cycles.pause_ns[slot] = uint64_t(pause);
    cycles.pause_end_ns[slot] = uint64_t(internal::walltime());
    if (t.forced) ++cycles.num_forced_gc;
    t.number = num_gc.fetch_add(1, std::memory_order_release) + 1;
  }
  if (trace::on()) trace::gc_event(trace::Ev::kHeap, live, goal);
  t.end = restart_world(trace::Ev::kGcEnd);
  {
    // Go's work.totaltime: each pause once per P, assists and background
    // marking; idle marking is free.
    internal::LockGuard l(stats_lock);
    cycles.mark_cpu_ns += cycle_cpu_ns(t);
  }
  after_cycle();
}

__attribute__((noinline)) void gc_cycle(AfterCycle after) {
  gort::detail::safepoint();
  if (!sched::current_g()) internal::fatal("gc::collect outside a goroutine");
  if (sched::current_m()->in_blocking_call()) internal::fatal("gc::collect inside gort::blocking");
  // The cycle asked for: gc::collect wants one that starts after this call
  // (as Go's runtime.GC: one already marking may have seen garbage still
  // live); the heap is served by any that ends after it.
  const uint64_t wanted = after == AfterCycle::kFinishSweep ? cycles_started.load(std::memory_order_acquire) + 1
                                                            : num_gc.load(std::memory_order_acquire) + 1;
  while (num_gc.load(std::memory_order_acquire) < wanted) {
    if (!collecting.exchange(true, std::memory_order_acq_rel)) {
      if (num_gc.load(std::memory_order_acquire) >= wanted) {
        collecting.store(false, std::memory_order_release);
        break;
      }
      if (!start_cycle(after == AfterCycle::kFinishSweep)) {
        collecting.store(false, std::memory_order_release);
        return;  // the runtime is shutting down
      }
    }
    if (after == AfterCycle::kContinue) return;
    // One cycle at a time: wait for the one running to end.
    wait_for_cycle(num_gc.load(std::memory_order_acquire) + 1);
  }
  if (after != AfterCycle::kFinishSweep) return;
  // Outside the pause: destructors may take as long as they like, and may
  // allocate.
  finish_sweep();
  run_due_destructors();
}

}  // namespace

void finish_marking() {
  namespace trace = sched::trace;
  warm_up_runner_stack();
  CycleTrace& t = cycle.trace;
  t.mark_term_start = internal::nanotime();
  if (trace::on()) trace::gc_event(trace::Ev::kMarkEnd);
  const int64_t stopped = stop_world("GC mark termination");
  if (!stopped) return;  // the runtime is ending; release_p abandons the cycle
  {
    Marker m(current_node());
    flush_barrier_markers();
    scan_owed_in_pause(m);
    m.drain(-1);
  }
  complete_cycle_stopped(t.mark_term_start);
}

void release_p(sched::P* p) {
  if (sched::gcscan.marking.load(std::memory_order_acquire)) {
    // No goroutine runs any more: forget the half-done marking, whose
    // marks would otherwise count as live in the next cycle.
    sched::gcscan.marking.store(false, std::memory_order_release);
    detail::write_barrier_enabled.store(false, std::memory_order_release);
    for (Span* s : Heap::get().in_use_spans())
      for (size_t w = 0; w < s->bitmap_words(); ++w) s->mark_bits[w].store(0, std::memory_order_relaxed);
    workbufs::discard_all();
    collecting.store(false, std::memory_order_release);
    collect_trigger.store(0, std::memory_order_relaxed);
  }
  forget_buried_mark_workers();
  release_barrier_marker(p);
  release_p_cache(p);
}

int update_gc_percent(int percent) {
  const int old = Pacer::get().set_gc_percent(percent);
  if (!sched::gcscan.marking.load(std::memory_order_acquire))
    collect_trigger.store(trigger_for(Pacer::get().trigger()), std::memory_order_relaxed);
  return old;
}

int64_t update_memory_limit(int64_t bytes) {
  const int64_t old = Pacer::get().set_memory_limit(bytes);
  if (bytes >= 0 && !sched::gcscan.marking.load(std::memory_order_acquire))
    collect_trigger.store(trigger_for(Pacer::get().trigger()), std::memory_order_relaxed);
  return old;
}

CollectorStats collector_stats() {
  CollectorStats s;
  s.heap_live = heap_live.load();
  s.heap_alloc = heap_alloc_now();
  s.next_gc = Pacer::get().goal();
  s.freed_objects = swept_objects_total();
  internal::LockGuard l(stats_lock);
  s.num_gc = num_gc.load();
  s.num_forced_gc = cycles.num_forced_gc;
  s.last_pause_ns = cycles.last_pause_ns;
  s.total_pause_ns = cycles.total_pause_ns;
  s.mark_cpu_ns = cycles.mark_cpu_ns;
  std::copy(std::begin(cycles.pause_ns), std::end(cycles.pause_ns), s.pause_ns);
  std::copy(std::begin(cycles.pause_end_ns), std::end(cycles.pause_end_ns), s.pause_end_ns);
  return s;
}

}  // namespace gort::gc
