#include "gc/mcentral.hpp"

#include "gc/mheap.hpp"
#include "gc/sizeclass.hpp"
#include "gc/sweeper.hpp"

namespace gort::gc {

namespace {

void push(Span*& list, Span* s) {
  s->prev = nullptr;
  s->next = list;
  if (list) list->prev = s;
  list = s;
}

Span* pop(Span*& list) {
  Span* s = list;
  if (s) {
    list = s->next;
    if (list) list->prev = nullptr;
    s->next = s->prev = nullptr;
  }
  return s;
}

// How many unswept spans one refill may sweep before it asks the heap for
// a new span instead (Go's mcentral.cacheSpan gives up after 100): a
// refill stays short however much is left to sweep.
constexpr int kLazySweepBudget = 100;

}  // namespace

int Central::swept_set() { return int(current_sweepgen() / 2 % 2); }

Central& Central::of(int spanclass) {
  static Central all[kNumSpanClasses];
  return all[spanclass];
}

Span* Central::cache_span(int spanclass, int node) {
  {
    internal::LockGuard l(lock_);
    if (Span* s = pop(partial_[swept_set()][node])) return s;
  }
  if (Span* s = sweep_for_cache(*this, kLazySweepBudget)) return s;
  const int sizeclass = spanclass >> 1;
  return new_swept_span(class_pages(sizeclass), spanclass, 0, node);
}

void Central::uncache_span(Span* s) {
  internal::LockGuard l(lock_);
  const int set = swept_set();
  push(s->full() ? full_[set][s->node] : partial_[set][s->node], s);
}

Span* Central::take_unswept() {
  internal::LockGuard l(lock_);
  const int set = 1 - swept_set();
  for (int node = 0; node < internal::numa::kMaxNodes; ++node) {
    if (Span* s = pop(partial_[set][node])) return s;
    if (Span* s = pop(full_[set][node])) return s;
  }
  return nullptr;
}

bool Central::all_swept() {
  internal::LockGuard l(lock_);
  const int set = 1 - swept_set();
  for (int node = 0; node < internal::numa::kMaxNodes; ++node)
    if (partial_[set][node] || full_[set][node]) return false;
  return true;
}

}  // namespace gort::gc
