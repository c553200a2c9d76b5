#include "gc/barrier.hpp"

#include <atomic>
#include <new>

#include "gc/marker.hpp"
#include "gort/detail/collected.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/sysmem.hpp"
#include "sched/gcscan.hpp"
#include "sched/sched.hpp"

namespace gort::gc {

namespace {

bool hybrid = true;

// Threads without a P of their own to shade into: foreign threads, and
// goroutines inside gort::blocking, whose P may be serving another M.
internal::Lock orphan_lock;
Marker* orphan_marker = nullptr;

// A barrier's grey objects go to the shared lists in blocks of this many,
// where mark workers take them; what is left in the blocks when marking
// ends is drained inside the pause, so this bounds that drain per P.
constexpr size_t kBarrierHandOff = 64;

Marker* new_marker(int node) {
  auto* m = ::new (internal::map_memory(sizeof(Marker), "the write barrier's work list")) Marker(node);
  m->hand_off_every(kBarrierHandOff);
  return m;
}

// Runs shade(marker) on this thread's marker. Not stopped by signal
// halfway: the pause must find every marker's state whole.
template <class Fn>
void with_marker(Fn&& shade) {
  internal::add_locks_held(1);
  sched::M* m = sched::current_m();
  sched::P* p = m ? m->p : nullptr;
  if (p && !m->in_blocking_call()) {
    if (!p->gcw) p->gcw = new_marker(p->node);
    Marker& mine = *p->gcw;
    shade(mine);
    if (sched::take_gc_work_hand_over(p)) [[unlikely]]
      mine.flush();
    const bool holds = mine.has_local_work();
    if (holds != p->gcw_holds_work.load(std::memory_order_relaxed))
      p->gcw_holds_work.store(holds, std::memory_order_release);
  } else {
    internal::LockGuard l(orphan_lock);
    if (!orphan_marker) orphan_marker = new_marker(0);
    shade(*orphan_marker);
  }
  internal::add_locks_held(-1);
}

}  // namespace

namespace detail {

std::atomic<bool> write_barrier_enabled{false};

void write_barrier_slow(const void* old_value, const void* new_value) {
  // The flag may have been read just before the world stopped to end
  // marking.
  if (!sched::gcscan.marking.load(std::memory_order_relaxed)) return;
  with_marker([&](Marker& m) {
    if (hybrid) m.mark(reinterpret_cast<uintptr_t>(old_value));
    m.mark(reinterpret_cast<uintptr_t>(new_value));
  });
}

}  // namespace detail

void set_barrier_mode(bool is_hybrid) { hybrid = is_hybrid; }
bool barrier_is_hybrid() { return hybrid; }

void shade_words(const void* base, size_t size) {
  if (!sched::gcscan.marking.load(std::memory_order_relaxed)) return;
  with_marker([&](Marker& m) {
    const auto lo = reinterpret_cast<uintptr_t>(base);
    m.scan_range(lo, lo + size);
  });
}

void hand_over_gc_work(sched::P* p) {
  // Not stopped by signal halfway, as with_marker.
  internal::add_locks_held(1);
  if (p->gcw) p->gcw->flush();
  p->gcw_holds_work.store(false, std::memory_order_release);
  internal::add_locks_held(-1);
}

bool barrier_work_handed_over() {
  // An idle P stores no pointer and reaches no safe point: its work is
  // handed over here.
  sched::for_each_idle_p([](sched::P* p) {
    sched::take_gc_work_hand_over(p);
    if (p->gcw_holds_work.load(std::memory_order_relaxed)) hand_over_gc_work(p);
  });
  bool all = true;
  for (sched::P* p : sched::sched.allp) {
    if (!p->gcw_holds_work.load(std::memory_order_acquire)) continue;
    sched::request_gc_work_hand_over(p);
    all = false;
  }
  return all;
}

void flush_barrier_markers() {
  for (sched::P* p : sched::sched.allp) {
    sched::take_gc_work_hand_over(p);
    p->gcw_holds_work.store(false, std::memory_order_relaxed);
    if (p->gcw) p->gcw->flush();
  }
  internal::LockGuard l(orphan_lock);
  if (orphan_marker) orphan_marker->flush();
}

void release_barrier_marker(sched::P* p) {
  sched::take_gc_work_hand_over(p);
  if (!p->gcw) return;
  p->gcw->~Marker();
  internal::unmap_memory(p->gcw, sizeof(Marker));
  p->gcw = nullptr;
}

}  // namespace gort::gc
