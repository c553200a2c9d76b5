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
    // A word of 64 slots at a time: the dead are allocated and unmarked.
    for (size_t w = 0; w < s->bitmap_words(); ++w) {
      const uint64_t alloc = s->alloc_bits[w].load(std::memory_order_relaxed);
      const uint64_t marked = s->mark_bits[w].load(std::memory_order_relaxed);
      allocated += uint32_t(__builtin_popcountll(alloc & marked));
      uint64_t freed = 0;
      for (uint64_t unmarked = alloc & ~marked; unmarked != 0; unmarked &= unmarked - 1) {
        const int b = __builtin_ctzll(unmarked);
        const uintptr_t slot = s->base + (w * 64 + size_t(b)) * s->elemsize;
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
        freed |= uint64_t(1) << b;
        poison(slot, s->elemsize);
        ++r.freed_objects;
      }
      if (freed != 0) s->alloc_bits[w].store(alloc & ~freed, std::memory_order_relaxed);
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
