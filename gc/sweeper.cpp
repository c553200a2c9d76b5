#include "gc/sweeper.hpp"

#include "gc/mcentral.hpp"
#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "gc/sizeclass.hpp"

namespace gort::gc {

SweepResult sweep() {
  SweepResult r;
  Heap& heap = Heap::get();
  for (int sc = 0; sc < num_classes() * 2; ++sc) Central::of(sc).clear_lists();
  for (Span* s : heap.all_spans()) {
    if (s->free) continue;  // free pages, waiting for reuse
    uint32_t allocated = 0;
    for (uint32_t i = 0; i < s->nelems; ++i) {
      const uint64_t bit = uint64_t(1) << (i % 64);
      uint64_t& alloc = s->alloc_bits[i / 64];
      if (!(alloc & bit)) continue;
      if (s->mark_bits[i / 64] & bit) {
        ++allocated;
        continue;
      }
      auto* h = reinterpret_cast<Header*>(s->base + size_t(i) * s->elemsize);
      const uint32_t flags = h->flags.load(std::memory_order_acquire);
      if (h->type && h->type->destroy && !(flags & Header::kFinalized)) {
        if (!(flags & Header::kFinalizing)) {
          h->flags.store(flags | Header::kFinalizing, std::memory_order_relaxed);
          r.to_finalize.push_back(reinterpret_cast<uintptr_t>(h));
        }
        ++allocated;  // still holds its object until the destructor has run
        continue;
      }
      alloc &= ~bit;
      ++r.freed_objects;
    }
    s->mark_bits.clear();
    s->allocated = allocated;
    s->freeindex = 0;
    r.live_bytes += size_t(allocated) * s->elemsize;
    r.live_objects += allocated;
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
