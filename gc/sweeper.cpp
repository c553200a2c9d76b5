#include "gc/sweeper.hpp"

#include "gc/mcentral.hpp"
#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "gc/poison.hpp"
#include "gc/sizeclass.hpp"
#include "sched/stw.hpp"

namespace gort::gc {

namespace {

// Is the dead object at h owed a destructor? Only a fully constructed one
// (a constructor that threw leaves a slot that was never an object), and
// only once.
bool owes_destructor(const Header* h, uint16_t flags) {
  return h->type && h->type->destroy && (flags & Header::kConstructed) && !(flags & Header::kDestroyed);
}

}  // namespace

SweepResult sweep() {
  sched::assert_world_stopped();
  SweepResult r;
  Heap& heap = Heap::get();
  for (int sc = 0; sc < num_classes() * 2; ++sc) Central::of(sc).clear_lists();
  const internal::RawVector<Span*>& spans = heap.in_use_spans();
  // Backwards: a span freed on the way is replaced by one already swept.
  for (size_t k = spans.size(); k-- > 0;) {
    Span* s = spans[k];
    uint32_t allocated = 0;
    for (uint32_t i = 0; i < s->nelems; ++i) {
      const uint64_t bit = uint64_t(1) << (i % 64);
      std::atomic<uint64_t>& alloc = s->alloc_bits[i / 64];
      if (!(alloc.load(std::memory_order_relaxed) & bit)) continue;
      if (s->is_marked(i)) {
        ++allocated;
        continue;
      }
      const uintptr_t slot = s->base + size_t(i) * s->elemsize;
      auto* h = reinterpret_cast<Header*>(slot);
      const uint16_t flags = h->flags.load(std::memory_order_acquire);
      if (owes_destructor(h, flags)) {
        if (!(flags & Header::kDestroyListed)) {
          h->flags.store(flags | Header::kDestroyListed, std::memory_order_relaxed);
          r.to_destroy.push_back(slot);
        }
        ++allocated;  // still holds its object until the destructor has run
        continue;
      }
      alloc.store(alloc.load(std::memory_order_relaxed) & ~bit, std::memory_order_relaxed);
      poison(slot, s->elemsize);
      ++r.freed_objects;
    }
    s->allocated = allocated;
    s->freeindex = 0;
    r.live_bytes += size_t(allocated) * s->elemsize;
    if (allocated == 0) {
      heap.free_span(s);
      continue;
    }
    if (s->sizeclass() == 0) continue;
    if (allocated < s->nelems) s->needzero = true;
    Central::of(s->spanclass).uncache_span(s);
  }
  return r;
}

}  // namespace gort::gc
