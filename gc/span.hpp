// A span: a run of heap pages holding objects of one size class, or one
// large object (Go's mspan, runtime/mheap.go); or, while free, a run of
// pages waiting in the page heap for its next use.
//
// The allocation bitmap has a bit per object slot. Allocation scans it from
// freeindex for a clear bit; everything below freeindex is known to be in
// use. The collector keeps a mark bitmap beside it and, when it sweeps,
// makes the marks the new allocation bits and resets freeindex.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gc/sizeclass.hpp"

namespace gort::gc {

// Span class: size class << 1 | noscan. Objects without pointers live in
// noscan spans and are never scanned.
inline int span_class(int sizeclass, bool noscan) { return sizeclass << 1 | int(noscan); }

enum class SpanState : uint8_t {
  kFree,   // pages in the page heap's free lists: holds no object
  kInit,   // taken from the free lists, being set up: holds no object yet
  kInUse,  // holds objects
};

struct Span {
  uintptr_t base = 0;
  size_t npages = 0;
  // Read without a lock by interior-pointer lookups (conservative scans):
  // a free span has no object, whatever its other fields say.
  std::atomic<SpanState> state{SpanState::kFree};
  int spanclass = 0;
  size_t elemsize = 0;
  uint32_t nelems = 0;
  uint32_t freeindex = 0;
  uint32_t allocated = 0;
  // Sized when the span is set up, never during a collection (no malloc
  // while the world is stopped).
  std::vector<uint64_t> alloc_bits;
  std::vector<uint64_t> mark_bits;
  bool needzero = false;            // pages were used before: clear on allocation
  // Position in the page heap's list of in-use spans (O(1) removal).
  size_t heap_index = 0;
  // In its mcentral list while in use; in the free list of its length (or
  // the spare records) while free.
  Span* next = nullptr;
  Span* prev = nullptr;

  int sizeclass() const { return spanclass >> 1; }
  bool noscan() const { return spanclass & 1; }
  bool in_use() const { return state.load(std::memory_order_acquire) == SpanState::kInUse; }
  uintptr_t limit() const { return base + npages * kHeapPageSize; }
  bool full() const { return allocated == nelems; }

  // Start of the object slot containing addr (addr inside an in-use span).
  uintptr_t object_base(uintptr_t addr) const { return base + (addr - base) / elemsize * elemsize; }
  bool is_allocated(uintptr_t object) const {
    const size_t i = (object - base) / elemsize;
    return alloc_bits[i / 64] >> (i % 64) & 1;
  }
  // Sets the mark bit; true if it was clear.
  bool mark(uintptr_t object) {
    const size_t i = (object - base) / elemsize;
    const uint64_t bit = uint64_t(1) << (i % 64);
    if (mark_bits[i / 64] & bit) return false;
    mark_bits[i / 64] |= bit;
    return true;
  }

  // Claims the next free slot; false when the span is full.
  bool take_free(uintptr_t* object) {
    while (freeindex < nelems) {
      const uint32_t word = freeindex / 64;
      // Clear bits at or after freeindex in this word.
      const uint64_t free = ~alloc_bits[word] & (~uint64_t(0) << (freeindex % 64));
      if (free == 0) {
        freeindex = (word + 1) * 64;
        continue;
      }
      const uint32_t i = word * 64 + uint32_t(__builtin_ctzll(free));
      if (i >= nelems) break;
      alloc_bits[word] |= uint64_t(1) << (i % 64);
      freeindex = i + 1;
      ++allocated;
      *object = base + size_t(i) * elemsize;
      return true;
    }
    freeindex = nelems;
    return false;
  }
};

}  // namespace gort::gc
