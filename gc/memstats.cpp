#include "gc/memstats.hpp"

#include <new>

#include "runtime/internal/lock.hpp"
#include "runtime/internal/sysmem.hpp"

namespace gort::gc {

namespace {

internal::Lock counts_lock;
std::atomic<AllocCounts*> all_counts{nullptr};
AllocCounts* free_counts = nullptr;  // under counts_lock

}  // namespace

AllocCounts* take_alloc_counts() {
  internal::LockGuard l(counts_lock);
  if (AllocCounts* c = free_counts) {
    free_counts = c->next_free;
    return c;
  }
  // Off malloc, as everything made under a runtime lock (raw_vector.hpp).
  auto* c = ::new (internal::map_memory(sizeof(AllocCounts), "the allocation counters")) AllocCounts;
  c->next_made = all_counts.load(std::memory_order_relaxed);
  // Release: a reader that finds the record finds it initialised.
  all_counts.store(c, std::memory_order_release);
  return c;
}

void give_back_alloc_counts(AllocCounts* counts) {
  internal::LockGuard l(counts_lock);
  counts->next_free = free_counts;
  free_counts = counts;
}

AllocTotals alloc_totals() {
  AllocTotals t;
  for (AllocCounts* c = all_counts.load(std::memory_order_acquire); c; c = c->next_made) {
    for (int sc = 1; sc < kNumSizeClasses; ++sc) {
      const uint64_t n = c->objects[sc].load(std::memory_order_relaxed);
      t.objects += n;
      t.bytes += n * class_size(sc);
    }
    t.objects += c->objects[0].load(std::memory_order_relaxed);
    t.bytes += c->large_bytes.load(std::memory_order_relaxed);
  }
  return t;
}

}  // namespace gort::gc
