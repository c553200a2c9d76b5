// A P's allocation cache (Go's mcache, runtime/mcache.go): one current span
// per span class. The fast path takes the next free slot of that span with
// no lock and no atomic operation, since only the P's own M allocates here.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gc/memstats.hpp"
#include "gc/span.hpp"

namespace gort::sched {
struct M;
struct P;
}  // namespace gort::sched

namespace gort::gc {

class MCache {
 public:
  // Allocates from spans of node's memory (its P's node).
  explicit MCache(int node) : counts_(take_alloc_counts()), node_(node) {}
  ~MCache() {
    release_all();
    give_back_alloc_counts(counts_);
  }
  MCache(const MCache&) = delete;
  MCache& operator=(const MCache&) = delete;

  // size <= kMaxSmallSize. Returns zeroed memory.
  void* alloc_small(size_t size, bool noscan);
  // A large object allocated for this P (MemStats' Mallocs, TotalAlloc).
  void count_large(size_t bytes) { counts_->count_large(bytes); }
  // Hands every cached span back to its central list.
  void release_all();

  // Bytes allocated black (while marking) since the cycle began: marked
  // live without the marker's help, as Go's gcmarknewobject counts them.
  int64_t black_bytes = 0;

 private:
  uintptr_t refill(int spanclass);
  AllocCounts* counts_;
  Span* spans_[kNumSpanClasses] = {};  // by span class
  // Which entries of spans_ are set. Mark termination empties every cache
  // in its pause: reading all of spans_ there, cold, cost 3-4.5 us of
  // gcpause's 12 us pause, for the two spans in use.
  static constexpr int kMaskWords = (kNumSpanClasses + 63) / 64;
  uint64_t cached_[kMaskWords] = {};
  int node_ = 0;
};

// Bytes in allocated objects, counted a span at a time (the free part of a
// span counts from the moment a P caches it); the collector's trigger.
extern std::atomic<int64_t> heap_alloc_bytes;

// Allocates size bytes from the cache of m's P (m runs a goroutine, its P
// has a cache); large objects get a span of their own. The bytes from
// *dirty_from on still need zeroing, which the caller does once it may be
// stopped again (a large reused span); all before are zero. No header:
// gc::make's job.
inline constexpr size_t kHeaderBytes = 16;
void* mallocgc_on(sched::M* m, size_t size, bool noscan, size_t* dirty_from);
void* mallocgc(size_t size, bool noscan);  // from the current M

// Hands back p's cache as the runtime goes away (sched::Hooks::release_p).
void release_p_cache(sched::P* p);

}  // namespace gort::gc
