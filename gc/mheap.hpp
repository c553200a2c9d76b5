// The page heap (Go's mheap, runtime/mheap.go).
//
// One large MAP_NORESERVE reservation, handed out as spans of 8 KiB pages;
// the kernel commits memory on first touch. A span the collector empties
// goes back as a free run of pages and merges with free neighbours on both
// sides, so that freed memory of any sizes becomes one run again. New spans
// of any class are cut from the free runs (best fit, the rest stays free);
// only when none fits does the heap grow, and then a free run at its top is
// extended rather than left behind. Free pages stay committed until the
// scavenger (scavenger.hpp) gives them back to the OS with scavenge(): a
// bitmap, one bit per page, says which pages are released (read as zero),
// so that HeapReleased is exact and a span cut from released pages is not
// cleared again.
//
// Beside it, a page table maps every page of an in-use span to its span, so
// that any address - interior pointers included - finds its span and object
// in O(1) with no lock. Conservative stack scanning depends on that: every
// word of every stack is a candidate pointer. Free runs keep only their
// first and last page's entries current (all coalescing needs, as in Go);
// a lookup that lands on a stale entry finds a span that does not cover the
// address, or a free one, and answers "no object".
//
// With several NUMA nodes the reservation is cut into one region per node
// (a power of two in size), each given its node's memory policy once, at
// start (runtime/internal/numa.hpp): a P's spans are cut from its node's
// region, with free runs and growth per region, so placing a span costs
// no system call and never splits a mapping. A region that runs out lends
// from the next; such spans count as remote.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gc/span.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/numa.hpp"
#include "runtime/internal/raw_vector.hpp"

namespace gort::gc {

class Heap {
 public:
  static Heap& get();

  // A new span of npages pages for spanclass (sizeclass 0: one large object
  // of `large_size` bytes), of node's memory.
  Span* alloc_span(size_t npages, int spanclass, size_t large_size = 0, int node = 0);

  int nodes() const { return nodes_; }
  // The NUMA node whose region holds addr (an address in the heap).
  int node_of(uintptr_t addr) const { return int((addr - base_) >> region_shift_); }
  // Spans cut from the region of the node that asked, and from another's.
  uint64_t spans_local() const { return spans_local_.load(std::memory_order_relaxed); }
  uint64_t spans_remote() const { return spans_remote_.load(std::memory_order_relaxed); }

  // The span that covers addr according to the page table, or null. It may
  // be free or (for a free run's interior page) not cover addr at all;
  // find_object checks both. Lock-free; safe from any thread.
  Span* span_of(uintptr_t addr) const {
    if (addr < base_ || addr >= base_ + kReserveBytes) return nullptr;
    return pages_[(addr - base_) >> kHeapPageShift].load(std::memory_order_acquire);
  }

  // Base of the allocated object containing addr, or 0.
  uintptr_t find_object(uintptr_t addr) const;

  // Pages carved from the reservation so far (free runs included).
  size_t bytes_in_spans() const;
  // Pages held by in-use spans.
  size_t bytes_in_use() const { return in_use_bytes_.load(std::memory_order_relaxed); }
  // Pages ever given back by free_span: how the sweeper's reclaim measures
  // its progress.
  uint64_t pages_freed() const { return pages_freed_.load(std::memory_order_relaxed); }

  // Free pages given back to the OS and not reused since (Go's
  // HeapReleased).
  size_t bytes_released() const { return released_bytes_.load(std::memory_order_relaxed); }
  // Gives up to `bytes` of committed free pages back to the OS (rounded up
  // to whole pages), the highest pages of the largest free runs first (the
  // least likely to be cut soon); returns the bytes released, 0 when every
  // free page is released already. The system calls run without the heap
  // lock: the stretch being released (at most 4 MiB) is cut out of its run
  // and off the free lists meanwhile, and the caller is not stopped by
  // signal until it is back (an allocation may be waiting for it). From a goroutine; never in a
  // pause.
  size_t scavenge(size_t bytes);

  // Every in-use span, for checks in the pause (world stopped).
  const internal::RawVector<Span*>& in_use_spans() const { return in_use_; }

  // A span with no live object left: its pages go back to the free runs,
  // merged with free neighbours.
  void free_span(Span* s);

 private:
  Heap();
  static constexpr size_t kReserveBytes = size_t(64) << 30;
  static constexpr size_t kFreeBuckets = 129;

  size_t page_index(uintptr_t addr) const { return (addr - base_) >> kHeapPageShift; }
  void set_pages(const Span* s, size_t first, size_t count);
  void init_span(Span* s, int spanclass, size_t large_size);
  // With lock_ held:
  Span* new_span_record();
  void retire_record(Span* s);
  void put_free(Span* s);
  // Puts s back with the free runs, merged with free neighbours.
  void coalesce_and_put(Span* s);
  // The highest stretch of at most max_pages committed free pages of the
  // largest free run that has any, cut out of its run and off the lists;
  // null when every free page is released.
  Span* take_unreleased(size_t max_pages);
  // The released-page bitmap: written with lock_ held; read with it, or
  // without it for the pages of a run the caller took off the lists.
  size_t count_released(size_t first, size_t count) const;
  void set_released(size_t first, size_t count, bool released);
  void remove_free(Span* s);
  Span* take_free(size_t npages, int node);  // best fit
  // Pages for a span, from the free runs or else (may_grow) new ones: null
  // only when it may not grow.
  Span* take_pages(size_t npages, int node, bool may_grow);
  Span* grow(size_t npages, int node);  // null when node's region is full
  // The free run of node's region owning that page, if any.
  Span* free_neighbour(size_t page, int node) const;
  uintptr_t region_base(int node) const { return base_ + (uintptr_t(node) << region_shift_); }

  mutable internal::Lock lock_;
  uintptr_t base_ = 0;
  int region_shift_ = 0;  // log2 of a node's region size
  int nodes_ = 1;
  std::atomic<size_t> in_use_bytes_{0};
  std::atomic<uint64_t> pages_freed_{0};
  std::atomic<size_t> released_bytes_{0};
  // Stretches the scavenger has off the free lists (under lock_), and how
  // many it has put back: alloc_span waits for one rather than grow.
  int stretches_out_ = 0;
  std::atomic<uint64_t> stretches_returned_{0};
  // One bit per page of the reservation (1 MiB, committed as touched):
  // set while the page is free and reads as zero (given back, or never
  // touched).
  std::atomic<uint64_t>* released_ = nullptr;
  std::atomic<uint64_t> spans_local_{0};
  std::atomic<uint64_t> spans_remote_{0};
  std::atomic<Span*>* pages_ = nullptr;
  // Go's allspans, less the free ones. Off malloc, like the span records
  // themselves: spans are made under locks_held (HACKING.md).
  internal::RawVector<Span*> in_use_;
  Span* slab_ = nullptr;  // span records are carved from here
  size_t slab_left_ = 0;
  // Per node's region: a bump pointer (bytes carved), and free runs by
  // length, the last list for every longer one, linked through the spans
  // themselves, since freeing happens in the sweep, where nothing may call
  // malloc.
  struct Region {
    std::atomic<size_t> used{0};
    Span* free[kFreeBuckets] = {};
  };
  Region regions_[internal::numa::kMaxNodes];
  // Span records are reused, never freed: a stale page-table entry always
  // points at a valid record.
  Span* spare_records_ = nullptr;
};

}  // namespace gort::gc
