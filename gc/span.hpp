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

#include "gc/sizeclass.hpp"
#include "runtime/internal/lock.hpp"

namespace gort::gc {

// Span class: size class << 1 | noscan. Objects without pointers live in
// noscan spans and are never scanned.
inline int span_class(int sizeclass, bool noscan) { return sizeclass << 1 | int(noscan); }

struct FinalizerRecord;  // finalizer.hpp

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
  // The NUMA node whose heap region holds its pages. Beside the fields
  // every mark reads (in the padding before spanclass): the marker files
  // each grey object by it, and must not pay a cache miss for that.
  uint8_t node = 0;
  int spanclass = 0;
  size_t elemsize = 0;
  uint32_t nelems = 0;
  uint32_t freeindex = 0;
  uint32_t allocated = 0;
  // One bit per object slot, in the record itself: a span is set up where
  // no malloc may run (HACKING.md). Allocation bits are written only by
  // the span's owner (the mcache that allocates from it, or whoever sweeps
  // it) and read by interior-pointer lookups; mark bits are set by any
  // marker, hence atomic words.
  static constexpr size_t kBitmapWords = kMaxObjectsPerSpan / 64;
  std::atomic<uint64_t> alloc_bits[kBitmapWords];
  std::atomic<uint64_t> mark_bits[kBitmapWords];
  // GODEBUG=gccheckmark=1's second marking (checkmark.hpp).
  std::atomic<uint64_t> check_bits[kBitmapWords];
  // Some slot may hold old bytes: clear on allocation. Set as the span is
  // cut (false when every page was released or fresh) and by the sweep.
  bool needzero = false;
  // Set once an object with a destructor was constructed here. Without it
  // the sweeper frees dead slots from the bitmaps alone, never reading a
  // dead object's header: on another core that read would pull the line
  // the allocator is about to write (alloc went from 10 to 17 ns/op).
  // Set before the object can be found dead: a stop of the world lies
  // between its construction and any sweep that could free it.
  std::atomic<bool> may_owe_destructors{false};
  // The finalizer records of this span's objects (finalizer.hpp, Go's
  // specials), linked under finalizers_lock; read without it only to see
  // whether there are any. A span with records holds live objects, so it
  // is never freed with records left. finalizers_registered is never
  // cleared: span records are recycled, and the registry keeps each once.
  std::atomic<FinalizerRecord*> finalizers{nullptr};
  internal::Lock finalizers_lock;
  bool finalizers_registered = false;
  // Equal to the heap's sweep generation once swept (sweeper.hpp). Written
  // by whoever sweeps or creates the span.
  uint32_t sweepgen = 0;
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
  size_t bitmap_words() const { return (nelems + 63) / 64; }
  bool is_allocated(uintptr_t object) const {
    const size_t i = (object - base) / elemsize;
    // Acquire: a slot allocated black has its mark bit set first.
    return alloc_bits[i / 64].load(std::memory_order_acquire) >> (i % 64) & 1;
  }
  // Sets the mark bit; true if it was clear.
  bool mark(uintptr_t object) {
    const size_t i = (object - base) / elemsize;
    const uint64_t bit = uint64_t(1) << (i % 64);
    if (mark_bits[i / 64].load(std::memory_order_relaxed) & bit) return false;
    return !(mark_bits[i / 64].fetch_or(bit, std::memory_order_relaxed) & bit);
  }
  bool is_marked(size_t i) const { return mark_bits[i / 64].load(std::memory_order_relaxed) >> (i % 64) & 1; }
  bool is_marked_object(uintptr_t object) const { return is_marked((object - base) / elemsize); }
  // Check mode's mark; true if the check bit was clear.
  bool check_mark(uintptr_t object) {
    const size_t i = (object - base) / elemsize;
    const uint64_t bit = uint64_t(1) << (i % 64);
    return !(check_bits[i / 64].fetch_or(bit, std::memory_order_relaxed) & bit);
  }
  void clear_check_bits() {
    for (size_t w = 0; w < bitmap_words(); ++w) check_bits[w].store(0, std::memory_order_relaxed);
  }
  void clear_bits() {
    for (size_t w = 0; w < kBitmapWords; ++w) {
      alloc_bits[w].store(0, std::memory_order_relaxed);
      mark_bits[w].store(0, std::memory_order_relaxed);
      check_bits[w].store(0, std::memory_order_relaxed);
    }
  }

  // Claims the next free slot; false when the span is full. black (while
  // marking): the object is born marked, its mark bit set before its
  // allocation bit, so a marker that finds the slot allocated finds it
  // marked too and never traces it while its header is being written.
  bool take_free(uintptr_t* object, bool black) {
    while (freeindex < nelems) {
      const uint32_t word = freeindex / 64;
      const uint64_t bits = alloc_bits[word].load(std::memory_order_relaxed);
      // Clear bits at or after freeindex in this word.
      const uint64_t free = ~bits & (~uint64_t(0) << (freeindex % 64));
      if (free == 0) {
        freeindex = (word + 1) * 64;
        continue;
      }
      const uint32_t i = word * 64 + uint32_t(__builtin_ctzll(free));
      if (i >= nelems) break;
      if (black) mark_bits[word].fetch_or(uint64_t(1) << (i % 64), std::memory_order_relaxed);
      alloc_bits[word].store(bits | uint64_t(1) << (i % 64), std::memory_order_release);
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
