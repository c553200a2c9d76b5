// A P's allocation cache (Go's mcache, runtime/mcache.go): one current span
// per span class. The fast path takes the next free slot of that span with
// no lock and no atomic operation, since only the P's own M allocates here.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gc/span.hpp"

namespace gort::sched {
struct M;
struct P;
}

namespace gort::gc {

class MCache {
 public:
  MCache();
  ~MCache() { release_all(); }
  MCache(const MCache&) = delete;
  MCache& operator=(const MCache&) = delete;

  // size <= kMaxSmallSize. Returns zeroed memory.
  void* alloc_small(size_t size, bool noscan);
  // Hands every cached span back to its central list.
  void release_all();

 private:
  uintptr_t refill(int spanclass);
  std::vector<Span*> spans_;  // by span class
};

// Bytes in allocated objects, counted a span at a time (the free part of a
// span counts from the moment a P caches it); the collector's trigger.
extern std::atomic<int64_t> heap_alloc_bytes;

// Allocates size zeroed bytes from the cache of m's P (m runs a goroutine);
// large objects get a span of their own. No header: gc::make's job.
void* mallocgc_on(sched::M* m, size_t size, bool noscan);
void* mallocgc(size_t size, bool noscan);  // from the current M

// Hands back p's cache as the runtime goes away (sched::Hooks::release_p).
void release_p_cache(sched::P* p);

}  // namespace gort::gc
