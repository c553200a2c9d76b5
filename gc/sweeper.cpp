#include "gc/sweeper.hpp"

#include <atomic>
#include <utility>

#include "gc/finalizer.hpp"
#include "gc/mcentral.hpp"
#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "gc/poison.hpp"
#include "gc/scavenger.hpp"
#include "gc/sizeclass.hpp"
#include "gort/detail/safepoint.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/raw_vector.hpp"
#include "sched/sched.hpp"
#include "sched/sema.hpp"
#include "sched/stw.hpp"
#include "sched/trace.hpp"

namespace gort::gc {

namespace {

std::atomic<uint32_t> sweepgen{0};
// The first class that may still hold unswept spans: sweep_one's cursor.
std::atomic<int> next_unswept_class{kNumSpanClasses};
// Sweepers between taking a span off an unswept list and filing it (or
// caching it): finish_sweep waits for them.
std::atomic<int> sweeps_in_flight{0};
std::atomic<uint64_t> swept_objects{0};
std::atomic<uint64_t> swept_bytes{0};
// The background sweeper: one goroutine for the life of the runtime, parked
// between cycles (Go's bgsweep), so that a cycle does not cost a goroutine.
enum class SweeperState { kNone, kRunning, kParked };
internal::Lock sweeper_lock;
SweeperState sweeper_state = SweeperState::kNone;
sched::G* sweeper_g = nullptr;

// Listed by sweepers (inside the allocator, where no destructor may run),
// taken by run_due_destructors. Off malloc: filled with locks held.
internal::Lock due_lock;
internal::RawVector<uintptr_t> due_destructors;

// One goroutine runs destructors at a time, so that whoever returns from
// run_due_destructors knows every destructor listed before its call has
// run, those in a batch another goroutine had taken included. The others
// park for their turn rather than yield: the runner may be runnable in the
// queue of a P whose goroutine spins without a safe point, and only a P
// that goes idle steals it from there.
std::atomic<uint32_t> destructor_turn{1};
std::atomic<sched::G*> destructor_runner{nullptr};

// Takes what is listed and runs it; false when nothing was.
bool run_destructor_batch() {
  internal::RawVector<uintptr_t> due;
  {
    internal::LockGuard l(due_lock);
    due = std::move(due_destructors);
  }
  for (uintptr_t addr : due) {
    const ObjectView o = view_slot(addr);
    const detail::TypeInfo* type = o.type();
    for (uint32_t i = 0; i < o.count; ++i) type->destroy(o.start + size_t(i) * type->elem_size);
    o.header->word.fetch_or(Header::kDestroyed, std::memory_order_release);
  }
  return due.size() != 0;
}

// Between spans the background sweeper offers its P to others, as Go's
// bgsweep does every 10 spans.
constexpr int kSpansPerYield = 10;

// A sweeper at work: cannot be stopped by the stop signal (a span would be
// on no list when the collector advances the generation) and is counted
// for finish_sweep. Taken before the span is taken off its list.
class SweepInFlight {
 public:
  SweepInFlight() {
    internal::add_locks_held(1);
    sweeps_in_flight.fetch_add(1, std::memory_order_acq_rel);
  }
  ~SweepInFlight() {
    sweeps_in_flight.fetch_sub(1, std::memory_order_acq_rel);
    internal::add_locks_held(-1);
  }
  SweepInFlight(const SweepInFlight&) = delete;
  SweepInFlight& operator=(const SweepInFlight&) = delete;
};

// The allocator's sweeps (a refill, the reclaim before new pages) run where
// nothing can stop the thread, and sweeping one span takes about a
// microsecond: a reclaim that found only live spans swept a thousand of
// them, 1.3 ms, while a stop of the world waited. So they give way as soon
// as their goroutine is asked to yield, and the allocation takes new pages
// instead. (Go's reclaim stays short another way: it sweeps only spans
// with no marked object, which it finds from a bitmap of them.)
bool stop_pending() { return sched::yield_requested(); }

// Is the dead object at h owed a destructor? Only a fully constructed one
// (a constructor that threw leaves a slot that was never an object), and
// only once.
bool owes_destructor(uint64_t word) {
  const detail::TypeInfo* type = Header::type_of(word);
  return type && type->destroy && (word & Header::kConstructed) && !(word & Header::kDestroyed);
}

enum class SweepFor { kFile, kCache };
enum class SweepOutcome { kFreed, kFiled, kKeptForCache };

// Sweeps s, which the caller took off its unswept list. An empty span goes
// back to the heap; one with free slots is kept for the caller when it
// sweeps for its cache; any other goes to its central's swept list.
SweepOutcome sweep_span(Span* s, SweepFor why) {
  uint32_t allocated = 0;
  uint64_t freed_here = 0;
  const bool owing = s->may_owe_destructors.load(std::memory_order_relaxed);
  // Finalizers first: their unreachable objects are marked here, kept.
  if (s->finalizers.load(std::memory_order_relaxed)) queue_dead_finalizers(s);
  // A word of 64 slots at a time: the dead are allocated and unmarked.
  for (size_t w = 0; w < s->bitmap_words(); ++w) {
    const uint64_t alloc = s->alloc_bits[w].load(std::memory_order_relaxed);
    const uint64_t marked = s->mark_bits[w].load(std::memory_order_relaxed);
    allocated += uint32_t(__builtin_popcountll(alloc & marked));
    uint64_t freed = 0;
    for (uint64_t unmarked = alloc & ~marked; unmarked != 0; unmarked &= unmarked - 1) {
      const int b = __builtin_ctzll(unmarked);
      const uintptr_t slot = s->base + (w * 64 + size_t(b)) * s->elemsize;
      const ObjectView o = owing ? view_slot(slot) : ObjectView{};
      if (owing && owes_destructor(o.word)) {
        if (!(o.word & Header::kDestroyListed)) {
          o.header->word.fetch_or(Header::kDestroyListed, std::memory_order_relaxed);
          internal::LockGuard l(due_lock);
          due_destructors.push_back(slot);
        }
        ++allocated;  // still holds its object until the destructor has run
        continue;
      }
      freed |= uint64_t(1) << b;
      poison(slot, s->elemsize);
      ++freed_here;
    }
    if (freed != 0) s->alloc_bits[w].store(alloc & ~freed, std::memory_order_relaxed);
    s->mark_bits[w].store(0, std::memory_order_relaxed);  // clear for the next cycle's marking
  }
  swept_objects.fetch_add(freed_here, std::memory_order_relaxed);
  if (freed_here != 0) swept_bytes.fetch_add(freed_here * s->elemsize, std::memory_order_relaxed);
  s->allocated = allocated;
  s->freeindex = 0;
  s->sweepgen = sweepgen.load(std::memory_order_relaxed);
  if (allocated == 0) {
    Heap::get().free_span(s);
    return SweepOutcome::kFreed;
  }
  if (s->sizeclass() != 0 && allocated < s->nelems) {
    s->needzero = true;
    if (why == SweepFor::kCache) return SweepOutcome::kKeptForCache;
  }
  Central::of(s->spanclass).uncache_span(s);
  return SweepOutcome::kFiled;
}

// For the execution trace: a pass of the background sweeper or of
// gc::collect ended (objects freed meanwhile by any sweeper count).
void trace_sweep_pass(int spans, uint64_t freed_before) {
  if (sched::trace::on())
    sched::trace::gc_event(sched::trace::Ev::kSwept, uint64_t(spans),
                           swept_objects.load(std::memory_order_relaxed) - freed_before);
}

void background_sweep() {
  sched::G* self = sched::current_g();
  for (;;) {
    // Sweeping and waiting, its stack holds no root, only stale addresses
    // of swept objects (some still awaiting their destructors), which must
    // not keep them alive; destructors are user code and may hold roots.
    self->holds_no_roots = true;
    const uint64_t freed_before = swept_objects.load(std::memory_order_relaxed);
    int swept = 0;
    while (sweep_one())
      if (++swept % kSpansPerYield == 0) sched::yield();
    trace_sweep_pass(swept, freed_before);
    // The pages this cycle's sweep freed are there to release now.
    wake_scavenger();
    self->holds_no_roots = false;
    run_due_destructors();
    self->holds_no_roots = true;
    sweeper_lock.lock();
    // A cycle that ended after the loop above found nothing left saw the
    // sweeper running and did not wake it: go on for it.
    if (next_unswept_class.load(std::memory_order_acquire) < kNumSpanClasses) {
      sweeper_lock.unlock();
      continue;
    }
    sweeper_state = SweeperState::kParked;
    sweeper_g = self;  // here, since its starter cannot know it under the lock
    sched::park_unlock(sweeper_lock, "GC sweep wait");
  }
}

}  // namespace

uint32_t current_sweepgen() { return sweepgen.load(std::memory_order_acquire); }

void begin_sweep_cycle() {
  sched::assert_world_stopped();
  for (int sc = 0; sc < kNumSpanClasses; ++sc)
    GORT_CHECK(Central::of(sc).all_swept(), "every span was swept before the next cycle");
  // O(1), as Go's: every central list changes sets with the generation.
  sweepgen.store(sweepgen.load(std::memory_order_relaxed) + 2, std::memory_order_release);
  next_unswept_class.store(0, std::memory_order_release);
}

Span* sweep_for_cache(Central& central, int budget) {
  for (; budget > 0 && !stop_pending(); --budget) {
    SweepInFlight sweeping;
    Span* s = central.take_unswept();
    if (!s) return nullptr;
    if (sweep_span(s, SweepFor::kCache) == SweepOutcome::kKeptForCache) return s;
  }
  return nullptr;
}

bool sweep_one() {
  SweepInFlight sweeping;
  for (int sc = next_unswept_class.load(std::memory_order_acquire); sc < kNumSpanClasses;) {
    if (Span* s = Central::of(sc).take_unswept()) {
      sweep_span(s, SweepFor::kFile);
      return true;
    }
    // This class has nothing left to sweep until the next cycle.
    next_unswept_class.compare_exchange_strong(sc, sc + 1, std::memory_order_acq_rel);
    sc = next_unswept_class.load(std::memory_order_acquire);
  }
  return false;
}

Span* new_swept_span(size_t npages, int spanclass, size_t large_size, int node) {
  Heap& heap = Heap::get();
  const uint64_t target = heap.pages_freed() + npages;
  while (heap.pages_freed() < target && !stop_pending() && sweep_one()) {
  }
  Span* s = heap.alloc_span(npages, spanclass, large_size, node);
  s->sweepgen = sweepgen.load(std::memory_order_relaxed);
  return s;
}

void finish_sweep() {
  const uint64_t freed_before = swept_objects.load(std::memory_order_relaxed);
  int swept = 0;
  while (sweep_one()) {
    ++swept;
    gort::detail::safepoint();
  }
  // Whoever took a span sweeps it without stopping: a few moments.
  while (sweeps_in_flight.load(std::memory_order_acquire) != 0) sched::yield();
  trace_sweep_pass(swept, freed_before);
  wake_scavenger();
}

void run_due_destructors() {
  wake_finalizer_goroutine();
  sched::G* self = sched::current_g();
  if (destructor_runner.load(std::memory_order_acquire) == self) {
    while (run_destructor_batch()) {
    }
    return;  // a destructor called collect(): it drains here, not wait for itself
  }
  sched::semacquire(&destructor_turn, false, "GC destructor wait");
  destructor_runner.store(self, std::memory_order_release);
  while (run_destructor_batch()) {
  }
  destructor_runner.store(nullptr, std::memory_order_release);
  sched::semrelease(&destructor_turn, 1, false);
}

uint64_t swept_objects_total() { return swept_objects.load(std::memory_order_relaxed); }
uint64_t swept_bytes_total() { return swept_bytes.load(std::memory_order_relaxed); }

void start_background_sweeper() {
  sweeper_lock.lock();
  const SweeperState was = sweeper_state;
  sweeper_state = SweeperState::kRunning;
  sweeper_lock.unlock();
  // Parked means switched out: park_unlock released the lock only then.
  if (was == SweeperState::kParked) sched::ready(sweeper_g);
  if (was == SweeperState::kNone) sched::start_system_goroutine(background_sweep);
}

void forget_buried_sweepers() {
  sweeper_state = SweeperState::kNone;
  sweeper_g = nullptr;
  // Its waiters were buried with it.
  destructor_runner.store(nullptr, std::memory_order_release);
  destructor_turn.store(1, std::memory_order_release);
}

}  // namespace gort::gc
