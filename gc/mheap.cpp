#include "gc/mheap.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstddef>

#include <cstdio>
#include <cstdlib>

#include "gc/sizeclass.hpp"

namespace gort::gc {

namespace {

void* reserve(size_t bytes, const char* what) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    std::fprintf(stderr, "fatal error: gort heap: cannot reserve %s\n", what);
    std::abort();
  }
  return p;
}

}  // namespace

Heap& Heap::get() {
  static Heap* heap = new Heap;  // lives as long as the process
  return *heap;
}

Heap::Heap() {
  base_ = reinterpret_cast<uintptr_t>(reserve(kReserveBytes, "the heap"));
  // One pointer per page: 64 MiB of address space, committed only where
  // spans exist.
  pages_ = static_cast<std::atomic<Span*>*>(
      reserve((kReserveBytes >> kHeapPageShift) * sizeof(std::atomic<Span*>), "the page table"));
}

void Heap::free_span(Span* s) {
  // The pages stay committed: the next span cut from them is likely due
  // within the next cycle, and a page fault costs more than clearing the
  // memory. Returning idle pages to the OS is the scavenger's job (Go's
  // bgscavenge), still to come.
  s->needzero = true;
  s->free = true;
  s->allocated = 0;
  s->next = s->prev = nullptr;
  sched::LockGuard l(lock_);
  put_free(s);
}

// Free runs are kept by length: one list per length below kFreeBuckets
// pages, and one for everything longer.
void Heap::put_free(Span* s) { free_[std::min(s->npages, kFreeBuckets - 1)].push_back(s); }

Span* Heap::take_free(size_t npages) {
  for (size_t n = std::min(npages, kFreeBuckets - 1); n < kFreeBuckets - 1; ++n) {
    if (free_[n].empty()) continue;
    Span* s = free_[n].back();
    free_[n].pop_back();
    return s;
  }
  auto& big = free_[kFreeBuckets - 1];
  size_t best = big.size();
  for (size_t i = 0; i < big.size(); ++i)
    if (big[i]->npages >= npages && (best == big.size() || big[i]->npages < big[best]->npages)) best = i;
  if (best == big.size()) return nullptr;
  Span* s = big[best];
  big.erase(big.begin() + ptrdiff_t(best));
  return s;
}

// Sets up s (pages and page-table entries already its own) for spanclass;
// needzero says whether those pages were used before.
void Heap::init_span(Span* s, int spanclass, size_t large_size) {
  const int sizeclass = spanclass >> 1;
  s->spanclass = spanclass;
  s->elemsize = sizeclass == 0 ? large_size : class_size(sizeclass);
  s->nelems = sizeclass == 0 ? 1 : uint32_t(s->npages * kHeapPageSize / s->elemsize);
  s->alloc_bits.assign((s->nelems + 63) / 64, 0);
  s->mark_bits.clear();
  s->freeindex = 0;
  s->allocated = 0;
  s->free = false;
}

// Best fit among the free spans, splitting off what is not needed; new
// pages from the reservation only when nothing fits.
Span* Heap::alloc_span(size_t npages, int spanclass, size_t large_size) {
  Span* s = nullptr;
  {
    sched::LockGuard l(lock_);
    s = take_free(npages);
    if (s) {
      if (s->npages > npages) {
        auto* rest = new Span;
        rest->base = s->base + npages * kHeapPageSize;
        rest->npages = s->npages - npages;
        rest->free = true;
        rest->needzero = s->needzero;
        s->npages = npages;
        const size_t first = (rest->base - base_) >> kHeapPageShift;
        for (size_t k = 0; k < rest->npages; ++k) pages_[first + k].store(rest, std::memory_order_release);
        all_spans_.push_back(rest);
        put_free(rest);
      }
    } else {
      const size_t bytes = npages * kHeapPageSize;
      const size_t used = used_.load(std::memory_order_relaxed);
      if (used + bytes > kReserveBytes) {
        std::fprintf(stderr, "fatal error: gort heap: out of memory (%zu bytes reserved)\n", kReserveBytes);
        std::abort();
      }
      s = new Span;
      s->base = base_ + used;
      s->npages = npages;
      used_.store(used + bytes, std::memory_order_relaxed);
      all_spans_.push_back(s);
    }
  }
  init_span(s, spanclass, large_size);
  // Publish the span to span_of only once it is complete.
  const size_t first = (s->base - base_) >> kHeapPageShift;
  for (size_t i = 0; i < s->npages; ++i) pages_[first + i].store(s, std::memory_order_release);
  return s;
}

uintptr_t Heap::find_object(uintptr_t addr) const {
  const Span* s = span_of(addr);
  if (!s) return 0;
  const uintptr_t object = s->object_base(addr);
  if (object >= s->base + size_t(s->nelems) * s->elemsize) return 0;  // the span's unused tail
  return s->is_allocated(object) ? object : 0;
}

}  // namespace gort::gc
