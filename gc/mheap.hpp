// The page heap (Go's mheap, runtime/mheap.go).
//
// One large MAP_NORESERVE reservation, handed out as spans of 8 KiB pages;
// the kernel commits memory on first touch. Spans emptied by the collector
// return their pages to a free list, from which new spans of any class are
// cut (best fit, the rest split off). Not yet: coalescing adjacent free runs,
// and a scavenger giving idle free pages back to the OS. Beside it, a page table maps
// every heap page to its span, so that any address - interior pointers
// included - finds its span and object in O(1) with no lock. Conservative
// stack scanning depends on that: every word of every stack is a candidate
// pointer.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gc/span.hpp"
#include "gort/detail/lock.hpp"

namespace gort::gc {

class Heap {
 public:
  static Heap& get();

  // A new span of npages pages for spanclass (sizeclass 0: one large object
  // of `large_size` bytes).
  Span* alloc_span(size_t npages, int spanclass, size_t large_size = 0);

  // The span holding addr, or null if addr is not in an allocated span.
  // Lock-free; safe from any thread.
  Span* span_of(uintptr_t addr) const {
    if (addr < base_ || addr >= base_ + kReserveBytes) return nullptr;
    return pages_[(addr - base_) >> 13].load(std::memory_order_acquire);
  }

  // Base of the allocated object containing addr, or 0.
  uintptr_t find_object(uintptr_t addr) const;

  size_t bytes_in_spans() const { return used_.load(std::memory_order_relaxed); }

  // Every span, for the collector (called with the world stopped).
  const std::vector<Span*>& all_spans() const { return all_spans_; }

  // A span with no live object left: its pages wait for the next span of
  // any class (called with the world stopped).
  void free_span(Span* s);

 private:
  Heap();
  void init_span(Span* s, int spanclass, size_t large_size);
  static constexpr size_t kReserveBytes = size_t(64) << 30;

  mutable sched::Lock lock_;
  uintptr_t base_ = 0;
  std::atomic<size_t> used_{0};  // bump pointer into the reservation
  std::atomic<Span*>* pages_ = nullptr;
  std::vector<Span*> all_spans_;  // every span, for the sweeper (Go's allspans)
  static constexpr size_t kFreeBuckets = 129;
  void put_free(Span* s);        // lock held
  Span* take_free(size_t npages);  // lock held; best fit
  std::vector<std::vector<Span*>> free_{kFreeBuckets};  // free page runs by length
};

}  // namespace gort::gc
