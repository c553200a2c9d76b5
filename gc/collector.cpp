// The stop-the-world collector (Go's GODEBUG=gcstoptheworld=1 mode) and the
// allocation entry point. A collection: stop the world; return every P's
// cached spans; mark from the roots; sweep; restart the world; run the
// destructors of what died. The next one starts when the heap has grown by
// GOGC percent over what this one found live (Go's heap goal, without the
// pacer's refinements yet).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "gc/marker.hpp"
#include "gc/mcache.hpp"
#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "gc/sweeper.hpp"
#include "gort/mutex.hpp"
#include "sched/nanotime.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"

namespace gort::gc {

namespace {

constexpr size_t kMinHeapGoal = size_t(4) << 20;  // Go's heapminimum

// GOGC: percent growth over the live heap before the next collection;
// "off" disables automatic collection.
int gogc() {
  static const int value = [] {
    const char* env = std::getenv("GOGC");
    if (!env) return 100;
    if (std::strcmp(env, "off") == 0) return -1;
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end == env || *end != '\0' || v < 0) {
      std::fprintf(stderr, "gort: ignoring GOGC=%s (want a percentage or off)\n", env);
      return 100;
    }
    return int(v);
  }();
  return value;
}

Mutex collect_mutex;
std::atomic<bool> collecting{false};
std::atomic<uint64_t> num_gc{0};
std::atomic<size_t> next_gc{kMinHeapGoal};
std::atomic<size_t> heap_live{0};
std::atomic<uint64_t> freed_total{0};
std::atomic<int64_t> last_pause{0};
std::atomic<int64_t> total_pause{0};
sched::Lock barrier_lock;
Marker* active_marker = nullptr;

std::vector<uintptr_t> collect_stopped();

void run_destructors(const std::vector<uintptr_t>& dead) {
  for (uintptr_t addr : dead) {
    auto* h = reinterpret_cast<Header*>(addr);
    auto* elem = static_cast<char*>(h->object());
    for (uint32_t i = 0; i < h->count; ++i) h->type->destroy(elem + size_t(i) * h->type->elem_size);
    h->flags.fetch_or(Header::kFinalized, std::memory_order_release);
  }
}

}  // namespace

namespace detail {

std::atomic<bool> write_barrier_enabled{false};

// Dijkstra's insertion barrier: the new target is shaded so a black object
// never points to a white one. Enabled only while marking runs concurrently
// with goroutines, which the stop-the-world collector never does.
void write_barrier_slow(const void*, const void* new_value) {
  sched::LockGuard l(barrier_lock);
  if (active_marker) active_marker->mark(reinterpret_cast<uintptr_t>(new_value));
}

void* alloc_object(const TypeInfo* type, size_t count) {
  const int percent = gogc();
  if (percent >= 0 && size_t(heap_alloc_bytes.load(std::memory_order_relaxed)) >= next_gc.load(std::memory_order_relaxed) &&
      sched::current_g() && !collecting.load(std::memory_order_relaxed))
    collect();
  sched::M* m = sched::current_m();
  // A thread inside the allocator must not be stopped by signal: the
  // collector is about to take its cached spans.
  if (m) ++m->mallocing;
  auto* h = static_cast<Header*>(mallocgc_on(m, sizeof(Header) + type->elem_size * count, type->trace == nullptr));
  h->type = type;
  h->count = uint32_t(count);
  h->flags.store(0, std::memory_order_relaxed);
  if (m) --m->mallocing;
  return h->object();
}

}  // namespace detail

void collect() {
  if (!sched::current_g()) {
    std::fprintf(stderr, "fatal error: gort: gc::collect outside a goroutine\n");
    std::abort();
  }
  const uint64_t seen = num_gc.load(std::memory_order_acquire);
  std::vector<uintptr_t> dead;
  {
    std::lock_guard<Mutex> one_at_a_time(collect_mutex);
    // Somebody else collected while we waited: that was the collection asked for.
    if (num_gc.load(std::memory_order_acquire) != seen) return;
    dead = collect_stopped();
  }
  // Outside the pause and the lock: destructors may take as long as they
  // like, and may allocate.
  run_destructors(dead);
}

namespace {

std::vector<uintptr_t> collect_stopped() {
  collecting.store(true, std::memory_order_relaxed);

  sched::stop_the_world();
  const int64_t start = sched::nanotime();
  for (sched::P* p : sched::sched.allp) p->mcache.release_all();
  for (Span* s : Heap::get().all_spans())
    if (!s->free) s->mark_bits.assign(s->alloc_bits.size(), 0);
  Marker marker;
  {
    sched::LockGuard l(barrier_lock);
    active_marker = &marker;
  }
  marker.mark_roots();
  marker.drain();
  {
    sched::LockGuard l(barrier_lock);
    active_marker = nullptr;
  }
  SweepResult swept = sweep();
  heap_alloc_bytes.store(int64_t(swept.live_bytes), std::memory_order_relaxed);
  heap_live.store(swept.live_bytes, std::memory_order_relaxed);
  const int percent = gogc() < 0 ? 100 : gogc();
  next_gc.store(std::max(kMinHeapGoal, swept.live_bytes + swept.live_bytes * size_t(percent) / 100),
                std::memory_order_relaxed);
  freed_total.fetch_add(swept.freed_objects, std::memory_order_relaxed);
  const int64_t pause = sched::nanotime() - start;
  last_pause.store(pause, std::memory_order_relaxed);
  total_pause.fetch_add(pause, std::memory_order_relaxed);
  num_gc.fetch_add(1, std::memory_order_release);
  sched::start_the_world();
  collecting.store(false, std::memory_order_relaxed);
  return std::move(swept.to_finalize);
}

}  // namespace

Stats stats() {
  Stats s;
  s.num_gc = num_gc.load();
  s.heap_live = heap_live.load();
  s.heap_alloc = size_t(std::max<int64_t>(0, heap_alloc_bytes.load()));
  s.next_gc = next_gc.load();
  s.freed_objects = freed_total.load();
  s.last_pause_ns = last_pause.load();
  s.total_pause_ns = total_pause.load();
  return s;
}

}  // namespace gort::gc
