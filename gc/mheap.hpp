// The page heap (Go's mheap, runtime/mheap.go).
//
// One large MAP_NORESERVE reservation, handed out as spans of 8 KiB pages;
// the kernel commits memory on first touch. Beside it, a page table maps
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
  size_t span_count() const;

  // Every span, for the collector (called with the world stopped).
  const std::vector<Span*>& all_spans() const { return all_spans_; }

  // A large object's span whose object died: its pages go back to the OS
  // and the span waits for a large object of at most its size.
  void free_large(Span* s);

 private:
  Heap();
  static constexpr size_t kReserveBytes = size_t(64) << 30;

  mutable sched::Lock lock_;
  uintptr_t base_ = 0;
  std::atomic<size_t> used_{0};  // bump pointer into the reservation
  std::atomic<Span*>* pages_ = nullptr;
  std::vector<Span*> all_spans_;  // every span, for the sweeper (Go's allspans)
  std::vector<Span*> free_large_;
};

}  // namespace gort::gc
