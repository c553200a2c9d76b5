#include "gc/mheap.hpp"

#include <sys/mman.h>

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

void Heap::free_large(Span* s) {
  madvise(reinterpret_cast<void*>(s->base), s->npages * kHeapPageSize, MADV_DONTNEED);
  s->alloc_bits.assign(s->alloc_bits.size(), 0);
  s->allocated = 0;
  s->freeindex = 0;
  s->needzero = false;  // fresh from the kernel again
  s->free = true;
  sched::LockGuard l(lock_);
  free_large_.push_back(s);
}

Span* Heap::alloc_span(size_t npages, int spanclass, size_t large_size) {
  const size_t bytes = npages * kHeapPageSize;
  if ((spanclass >> 1) == 0) {
    // Reuse a freed large span that fits, best fit, before growing.
    sched::LockGuard l(lock_);
    size_t best = free_large_.size();
    for (size_t i = 0; i < free_large_.size(); ++i)
      if (free_large_[i]->npages >= npages &&
          (best == free_large_.size() || free_large_[i]->npages < free_large_[best]->npages))
        best = i;
    if (best != free_large_.size()) {
      Span* s = free_large_[best];
      free_large_.erase(free_large_.begin() + ptrdiff_t(best));
      s->spanclass = spanclass;
      s->elemsize = large_size;
      s->free = false;
      return s;
    }
  }
  auto* s = new Span;
  {
    sched::LockGuard l(lock_);
    const size_t used = used_.load(std::memory_order_relaxed);
    if (used + bytes > kReserveBytes) {
      std::fprintf(stderr, "fatal error: gort heap: out of memory (%zu bytes reserved)\n", kReserveBytes);
      std::abort();
    }
    s->base = base_ + used;
    used_.store(used + bytes, std::memory_order_relaxed);
    all_spans_.push_back(s);
  }
  s->npages = npages;
  s->spanclass = spanclass;
  const int sizeclass = spanclass >> 1;
  s->elemsize = sizeclass == 0 ? large_size : class_size(sizeclass);
  s->nelems = sizeclass == 0 ? 1 : uint32_t(bytes / s->elemsize);
  s->alloc_bits.assign((s->nelems + 63) / 64, 0);
  // Publish the span to span_of only once it is complete.
  const size_t first = (s->base - base_) >> kHeapPageShift;
  for (size_t i = 0; i < npages; ++i) pages_[first + i].store(s, std::memory_order_release);
  return s;
}

size_t Heap::span_count() const {
  sched::LockGuard l(lock_);
  return all_spans_.size();
}

uintptr_t Heap::find_object(uintptr_t addr) const {
  const Span* s = span_of(addr);
  if (!s) return 0;
  const uintptr_t object = s->object_base(addr);
  if (object >= s->base + size_t(s->nelems) * s->elemsize) return 0;  // the span's unused tail
  return s->is_allocated(object) ? object : 0;
}

}  // namespace gort::gc
