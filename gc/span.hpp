// A span: a run of heap pages holding objects of one size class, or one
// large object (Go's mspan, runtime/mheap.go).
//
// The allocation bitmap has a bit per object slot. Allocation scans it from
// freeindex for a clear bit; everything below freeindex is known to be in
// use. The collector will keep a mark bitmap beside it and, when it sweeps,
// make the marks the new allocation bits and reset freeindex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gort::gc {

// Span class: size class << 1 | noscan. Objects without pointers live in
// noscan spans and are never scanned.
inline int span_class(int sizeclass, bool noscan) { return sizeclass << 1 | int(noscan); }

struct Span {
  uintptr_t base = 0;
  size_t npages = 0;
  int spanclass = 0;
  size_t elemsize = 0;
  uint32_t nelems = 0;
  uint32_t freeindex = 0;
  uint32_t allocated = 0;
  std::vector<uint64_t> alloc_bits;
  std::vector<uint64_t> mark_bits;  // during a collection
  bool needzero = false;            // slots were used before: clear on allocation
  bool free = false;                // a large span waiting for reuse
  Span* next = nullptr;  // in its mcentral list
  Span* prev = nullptr;

  int sizeclass() const { return spanclass >> 1; }
  bool noscan() const { return spanclass & 1; }
  uintptr_t limit() const { return base + npages * (size_t(1) << 13); }
  bool full() const { return allocated == nelems; }

  // Start of the object slot containing addr (addr inside the span).
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
