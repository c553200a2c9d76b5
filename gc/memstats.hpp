// Allocation counts for MemStats (Go's per-P heapStatsDelta and the
// mcache's local counts, mstats.go): Mallocs and TotalAlloc without a
// shared counter on the allocation fast path.
//
// Every P's allocation cache owns one AllocCounts record and is the only
// writer of it: a count is a relaxed load and a relaxed store, a plain add
// to memory on x86-64 and no locked instruction. The reader sums every
// record ever made. Records outlive the caches (a cache dies with its P
// when the runtime goes away; its counts must not): a dead cache's record
// goes to a free list and the next cache carries on counting in it.
#pragma once

#include <atomic>
#include <cstdint>

#include "gc/sizeclass.hpp"

namespace gort::gc {

struct AllocCounts {
  // Objects allocated, by size class; class 0 counts large objects, whose
  // bytes are in large_bytes.
  std::atomic<uint64_t> objects[kNumSizeClasses] = {};
  std::atomic<uint64_t> large_bytes{0};
  AllocCounts* next_made = nullptr;  // every record: the reader's list
  AllocCounts* next_free = nullptr;

  void count(int sizeclass) { add(objects[sizeclass], 1); }
  void count_large(uint64_t bytes) {
    add(objects[0], 1);
    add(large_bytes, bytes);
  }

 private:
  // The owner's increment: no other writer, so no read-modify-write.
  static void add(std::atomic<uint64_t>& c, uint64_t n) {
    c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
};

// A record for a new allocation cache, and its return when the cache dies.
AllocCounts* take_alloc_counts();
void give_back_alloc_counts(AllocCounts* counts);

struct AllocTotals {
  uint64_t objects = 0;  // Go's Mallocs
  uint64_t bytes = 0;    // Go's TotalAlloc: objects' slot sizes
};
// Sums every record: each count read once, relaxed, so a total may miss
// what other Ps allocate while it is being read.
AllocTotals alloc_totals();

}  // namespace gort::gc
