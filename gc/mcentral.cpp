#include "gc/mcentral.hpp"

#include "gc/mheap.hpp"
#include "gc/sizeclass.hpp"

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

}  // namespace

Central& Central::of(int spanclass) {
  static Central all[kNumSpanClasses];
  return all[spanclass];
}

Span* Central::cache_span(int spanclass, int node) {
  {
    internal::LockGuard l(lock_);
    if (Span* s = pop(partial_[node])) return s;
  }
  const int sizeclass = spanclass >> 1;
  return Heap::get().alloc_span(class_pages(sizeclass), spanclass, 0, node);
}

void Central::clear_lists() {
  internal::LockGuard l(lock_);
  for (int node = 0; node < internal::numa::kMaxNodes; ++node) partial_[node] = full_[node] = nullptr;
}

void Central::uncache_span(Span* s) {
  internal::LockGuard l(lock_);
  push(s->full() ? full_[s->node] : partial_[s->node], s);
}

}  // namespace gort::gc
