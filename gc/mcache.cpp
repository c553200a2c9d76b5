#include "gc/mcache.hpp"

#include <algorithm>
#include <cstring>

#include "gc/finalizer.hpp"
#include "gc/forcegc.hpp"
#include "gc/mcentral.hpp"
#include "gc/mheap.hpp"
#include "gc/poison.hpp"
#include "gc/scavenger.hpp"
#include "gc/sizeclass.hpp"
#include "gc/sweeper.hpp"
#include "runtime/internal/lock.hpp"
#include "sched/gcscan.hpp"
#include "sched/sched.hpp"

namespace gort::gc {

void* MCache::alloc_small(size_t size, bool noscan) {
  const int sc = span_class(size_to_class(size == 0 ? 1 : size), noscan);
  uintptr_t object;
  Span* s = spans_[size_t(sc)];
  const bool black = sched::gcscan.marking.load(std::memory_order_relaxed);
  if (!s || !s->take_free(&object, black)) {
    object = refill(sc);
    s = spans_[size_t(sc)];
  }
  if (black) black_bytes += int64_t(s->elemsize);
  counts_->count(sc >> 1);
  unpoison(object, s->elemsize);
  // Fresh spans come zeroed from the kernel; swept ones are cleared here.
  if (s->needzero) std::memset(reinterpret_cast<void*>(object), 0, s->elemsize);
  return reinterpret_cast<void*>(object);
}

uintptr_t MCache::refill(int spanclass) {
  Central& central = Central::of(spanclass);
  if (Span* old = spans_[size_t(spanclass)]) central.uncache_span(old);
  Span* s = central.cache_span(spanclass, node_);
  spans_[size_t(spanclass)] = s;
  cached_[spanclass / 64] |= uint64_t(1) << (spanclass % 64);
  // Counted when cached, as Go does: the whole free part of the span.
  heap_alloc_bytes.fetch_add(int64_t(s->nelems - s->allocated) * int64_t(s->elemsize), std::memory_order_relaxed);
  uintptr_t object = 0;
  s->take_free(&object, sched::gcscan.marking.load(std::memory_order_relaxed));
  return object;
}

void MCache::release_all() {
  for (int word = 0; word < kMaskWords; ++word) {
    for (uint64_t bits = cached_[word]; bits != 0; bits &= bits - 1) {
      const int sc = word * 64 + __builtin_ctzll(bits);
      Span* s = spans_[size_t(sc)];
      heap_alloc_bytes.fetch_sub(int64_t(s->nelems - s->allocated) * int64_t(s->elemsize), std::memory_order_relaxed);
      Central::of(sc).uncache_span(s);
      spans_[size_t(sc)] = nullptr;
    }
    cached_[word] = 0;
  }
}

std::atomic<int64_t> heap_alloc_bytes{0};

void* mallocgc(size_t size, bool noscan) {
  sched::M* m = sched::current_m();
  if (!m->p->mcache) m->p->mcache = new MCache(m->p->node);
  size_t dirty_from;
  void* p = mallocgc_on(m, size, noscan, &dirty_from);
  if (dirty_from < size) std::memset(static_cast<char*>(p) + dirty_from, 0, size - dirty_from);
  return p;
}

void* mallocgc_on(sched::M* m, size_t size, bool noscan, size_t* dirty_from) {
  *dirty_from = size;
  if (size > kMaxSmallSize) {
    const size_t npages = (size + kHeapPageSize - 1) / kHeapPageSize;
    const int spanclass = span_class(0, noscan);
    Span* s = new_swept_span(npages, spanclass, size, m->p->node);
    uintptr_t object = 0;
    const bool black = sched::gcscan.marking.load(std::memory_order_relaxed);
    s->take_free(&object, black);
    if (black) m->p->mcache->black_bytes += int64_t(s->elemsize);
    m->p->mcache->count_large(s->elemsize);
    Central::of(spanclass).uncache_span(s);  // where the sweeper will find it
    unpoison(object, size);
    // Zeroing megabytes must not happen where the thread cannot be
    // stopped: only the header is cleared here, the caller does the rest.
    if (s->needzero) {
      *dirty_from = std::min(size, kHeaderBytes);
      std::memset(reinterpret_cast<void*>(object), 0, *dirty_from);
    }
    heap_alloc_bytes.fetch_add(int64_t(s->elemsize), std::memory_order_relaxed);
    return reinterpret_cast<void*>(object);
  }
  return m->p->mcache->alloc_small(size, noscan);
}

void release_p_cache(sched::P* p) {
  delete p->mcache;  // its destructor hands the cached spans back
  p->mcache = nullptr;
  // The runtime is going away with every goroutine buried, a sweeper among
  // them perhaps: the next run must be free to start its own.
  forget_buried_sweepers();
  forget_buried_scavenger();
  forget_buried_finalizer_goroutine();
  forget_buried_periodic_gc_helper();
}

}  // namespace gort::gc
