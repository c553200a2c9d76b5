// Spans of one span class, shared by every P (Go's mcentral,
// runtime/mcentral.go). A P's cache takes a span with free slots from here
// when its own runs full, and gives the full one back. Spans of large
// objects (size class 0) are filed here too, so that the sweeper finds
// every in-use span in some central list.
//
// Each list comes in two sets, swept and unswept, told apart by the parity
// of the sweep generation as Go's spanSet pairs are: the collector turns
// every swept list into an unswept one in O(1) by advancing the
// generation, and sweepers move spans back one at a time. With several
// NUMA nodes each set is kept per node, so that a P allocates from spans
// of its own node's memory.
#pragma once

#include <cstdint>

#include "gc/span.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/numa.hpp"

namespace gort::gc {

class Central {
 public:
  // A swept span of node's memory with at least one free slot: from the
  // swept partial list, else an unswept span swept here (the allocator's
  // lazy sweep, whichever node's it is), else new from the heap.
  Span* cache_span(int spanclass, int node);
  // Takes back a swept span a P's cache no longer allocates from, or a
  // large object's span.
  void uncache_span(Span* s);

  // An unswept span, taken off its list for the caller to sweep; null when
  // this class has none left.
  Span* take_unswept();

  static Central& of(int spanclass);

  // Whether no unswept span is left: when the collector advances the
  // sweep generation (sweeper.hpp), every list turns unswept at once.
  bool all_swept();

 private:
  // Which set is swept in the current generation (Go: sweepgen/2 % 2).
  static int swept_set();
  internal::Lock lock_;
  // By set, then node:
  Span* partial_[2][internal::numa::kMaxNodes] = {};  // have free slots
  Span* full_[2][internal::numa::kMaxNodes] = {};     // no free slots, or a large object
};

}  // namespace gort::gc
