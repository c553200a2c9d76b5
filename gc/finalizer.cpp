#include "gc/finalizer.hpp"

#include <algorithm>
#include <cstring>

#include "gc/marker.hpp"
#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "gc/span.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/raw_vector.hpp"
#include "sched/gcscan.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"

namespace gort::gc {

namespace {

// Spans per root job: enough that a million records make a few hundred
// jobs, few enough that markers share them.
constexpr size_t kSpansPerJob = 64;

// Every span that ever held a record, in the order they got their first.
internal::Lock registry_lock;
internal::RawVector<Span*> registry;

internal::Lock all_lock;
FinalizerRecord* all_records = nullptr;

FinalizerRecord* new_record(uintptr_t slot, void* object, detail::Finalizer* fn) {
  auto* r = new FinalizerRecord{nullptr, slot, object, fn, nullptr, nullptr};
  internal::LockGuard l(all_lock);
  r->all_next = all_records;
  if (all_records) all_records->all_prev = r;
  all_records = r;
  return r;
}

// Off every list but the global one: destroys the closure and the record.
void free_record(FinalizerRecord* r) {
  {
    internal::LockGuard l(all_lock);
    if (r->all_prev) r->all_prev->all_next = r->all_next;
    else all_records = r->all_next;
    if (r->all_next) r->all_next->all_prev = r->all_prev;
  }
  r->fn->destroy(r->fn);
  delete r;
}

// Records whose object was found unreachable, oldest first, and the one
// whose finalizer runs now.
internal::Lock queue_lock;
FinalizerRecord* queue_head = nullptr;
FinalizerRecord* queue_tail = nullptr;
FinalizerRecord* running = nullptr;
enum class RunnerState { kNone, kRunning, kParked };
RunnerState runner_state = RunnerState::kNone;
sched::G* runner_g = nullptr;

void scan_closure(Marker& m, const detail::Finalizer* fn) {
  const auto lo = reinterpret_cast<uintptr_t>(fn->captures);
  m.scan_root_range(lo, lo + fn->captures_size);
}

// A set record: what its object references and what its closure captured,
// never the object itself.
void scan_set_record(Marker& m, const FinalizerRecord* r) {
  m.set_precise_source(true, r->slot);
  m.trace_object(r->slot);
  m.set_precise_source(true);
  scan_closure(m, r->fn);
  m.set_precise_source(false);
}

// A queued or running record: its object too, which waits for its
// finalizer.
void scan_queued_record(Marker& m, const FinalizerRecord* r) {
  m.set_precise_source(true);
  m.mark(r->slot);
  scan_closure(m, r->fn);
  m.set_precise_source(false);
}

void scan_span_records(Marker& m, Span* s) {
  internal::LockGuard l(s->finalizers_lock);
  for (FinalizerRecord* r = s->finalizers.load(std::memory_order_relaxed); r; r = r->next) scan_set_record(m, r);
}

void register_span(Span* s) {
  internal::LockGuard l(registry_lock);
  if (s->finalizers_registered) return;
  s->finalizers_registered = true;
  registry.push_back(s);
}

// A record set while marking: its job may have run already.
void shade_new_record(const FinalizerRecord* r) {
  internal::add_locks_held(1);  // the pause must find this marker flushed
  if (sched::gcscan.marking.load(std::memory_order_acquire)) {
    sched::P* p = sched::current_m()->p;
    Marker m(p ? p->node : 0);
    scan_set_record(m, r);
  }
  internal::add_locks_held(-1);
}

// A finalizer leaves its object's address in the frames it used, below
// run_finalizers' own; the goroutine's stack slot outlives the runtime and
// serves other goroutines, whose unwritten frame slots a conservative scan
// reads (gc/README.md, "What conservative stacks cost"). Clearing the
// usual depth of a finalizer's frames after each one keeps that from
// holding a freed object's slot alive once reused.
constexpr size_t kClearedBelow = 8 << 10;

__attribute__((noinline)) void clear_finalizer_frames() {
  char below[kClearedBelow];
  std::memset(below, 0, sizeof below);
  asm volatile("" : : "r"(below) : "memory");
}

void run_finalizers() {
  sched::G* self = sched::current_g();
  for (;;) {
    // Between finalizers its stack holds no root, only stale addresses of
    // objects finalized already (resurrected ones among them), which must
    // not keep them alive: what it needs is in the queue or `running`.
    self->holds_no_roots = true;
    queue_lock.lock();
    FinalizerRecord* r = queue_head;
    if (!r) {
      runner_state = RunnerState::kParked;
      runner_g = self;
      sched::park_unlock(queue_lock, "finalizer wait");
      continue;
    }
    queue_head = r->next;
    if (!queue_head) queue_tail = nullptr;
    running = r;  // still a root while it runs: its closure lives in it
    queue_lock.unlock();
    self->holds_no_roots = false;  // the finalizer is user code
    r->fn->run(r->fn, r->object);
    clear_finalizer_frames();
    self->holds_no_roots = true;
    queue_lock.lock();
    running = nullptr;
    queue_lock.unlock();
    free_record(r);
  }
}

// Takes object's record off its span; null if it had none.
FinalizerRecord* unlink_record(Span* s, uintptr_t slot) {
  internal::LockGuard l(s->finalizers_lock);
  FinalizerRecord* prev = nullptr;
  for (FinalizerRecord* r = s->finalizers.load(std::memory_order_relaxed); r; prev = r, r = r->next) {
    if (r->slot != slot) continue;
    if (prev) prev->next = r->next;
    else s->finalizers.store(r->next, std::memory_order_relaxed);
    return r;
  }
  return nullptr;
}

}  // namespace

namespace detail {

void set_finalizer(void* object, Finalizer* fin) {
  if (!object) internal::fatal("runtime.SetFinalizer: first argument is nil");
  if (!sched::current_g()) internal::fatal("runtime.SetFinalizer: called outside a goroutine");
  Heap& heap = Heap::get();
  const uintptr_t slot = heap.find_object(reinterpret_cast<uintptr_t>(object));
  if (!slot) internal::fatal("runtime.SetFinalizer: pointer not in allocated block");
  if (view_slot(slot).start != object)
    internal::fatal("runtime.SetFinalizer: pointer not at beginning of allocated block");
  Span* s = heap.span_of(slot);
  if (!fin) {
    if (FinalizerRecord* old = unlink_record(s, slot)) free_record(old);
    return;
  }
  FinalizerRecord* r = new_record(slot, object, fin);
  bool already_set = false;
  {
    internal::LockGuard l(s->finalizers_lock);
    FinalizerRecord* head = s->finalizers.load(std::memory_order_relaxed);
    for (FinalizerRecord* o = head; o && !already_set; o = o->next) already_set = o->slot == slot;
    r->next = head;
    if (!already_set) s->finalizers.store(r, std::memory_order_release);
  }
  if (already_set) internal::fatal("runtime.SetFinalizer: finalizer already set");
  register_span(s);
  shade_new_record(r);
}

}  // namespace detail

size_t finalizer_span_blocks() {
  internal::LockGuard l(registry_lock);
  return (registry.size() + kSpansPerJob - 1) / kSpansPerJob;
}

void scan_finalizer_block(Marker& m, size_t block) {
  Span* spans[kSpansPerJob];
  size_t n;
  {
    internal::LockGuard l(registry_lock);
    const size_t first = block * kSpansPerJob;
    n = std::min(kSpansPerJob, registry.size() - first);
    std::copy_n(registry.data() + first, n, spans);
  }
  for (size_t i = 0; i < n; ++i) scan_span_records(m, spans[i]);
}

void scan_finalizer_queue(Marker& m) {
  internal::LockGuard l(queue_lock);
  for (FinalizerRecord* r = queue_head; r; r = r->next) scan_queued_record(m, r);
  if (running) scan_queued_record(m, running);
}

void scan_all_finalizers(Marker& m) {
  sched::assert_world_stopped();
  for (size_t b = 0, n = finalizer_span_blocks(); b < n; ++b) scan_finalizer_block(m, b);
  scan_finalizer_queue(m);
}

void queue_dead_finalizers(Span* s) {
  internal::LockGuard l(s->finalizers_lock);
  FinalizerRecord* kept = nullptr;
  FinalizerRecord* r = s->finalizers.load(std::memory_order_relaxed);
  while (r) {
    FinalizerRecord* next = r->next;
    // mark() sets the bit and says whether it was clear: an unmarked
    // object is unreachable, and now kept for its finalizer.
    if (s->mark(r->slot)) {
      r->next = nullptr;
      internal::LockGuard q(queue_lock);
      if (queue_tail) queue_tail->next = r;
      else queue_head = r;
      queue_tail = r;
    } else {
      r->next = kept;
      kept = r;
    }
    r = next;
  }
  s->finalizers.store(kept, std::memory_order_relaxed);
}

void wake_finalizer_goroutine() {
  queue_lock.lock();
  const RunnerState was = runner_state;
  if (!queue_head || was == RunnerState::kRunning) {
    queue_lock.unlock();
    return;
  }
  runner_state = RunnerState::kRunning;
  queue_lock.unlock();
  // Parked means switched out: park_unlock released the lock only then.
  if (was == RunnerState::kParked) sched::ready(runner_g);
  else sched::start_system_goroutine(run_finalizers);
}

void forget_buried_finalizer_goroutine() {
  runner_state = RunnerState::kNone;
  runner_g = nullptr;
  // A finalizer cut short by the runtime's end is not run again.
  if (running) {
    free_record(running);
    running = nullptr;
  }
}

}  // namespace gort::gc
