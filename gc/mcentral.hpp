// Spans of one span class with free slots, shared by every P (Go's
// mcentral, runtime/mcentral.go). A P's cache takes a span from here when
// its own runs full, and gives the full one back. With several NUMA nodes
// the lists are kept per node, so a P only ever allocates from spans of its
// own node's memory.
#pragma once

#include "gc/span.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/numa.hpp"

namespace gort::gc {

class Central {
 public:
  // A span of node's memory with at least one free slot, new from the
  // heap if need be.
  Span* cache_span(int spanclass, int node);
  // Takes back a span a P's cache no longer allocates from.
  void uncache_span(Span* s);

  static Central& of(int spanclass);

  // Before a sweep re-files every span (with uncache_span).
  void clear_lists();

 private:
  internal::Lock lock_;
  // By node:
  Span* partial_[internal::numa::kMaxNodes] = {};  // have free slots
  Span* full_[internal::numa::kMaxNodes] = {};     // no free slots (the collector will sweep them)
};

}  // namespace gort::gc
