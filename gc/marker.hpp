// Marking (Go's mgcmark.go, the stop-the-world flavour): grey objects wait
// on a work list; blackening one runs its type's trace() over each element,
// which greys whatever the gc::ref fields point to. Roots are all
// conservative ranges, where any word that points into an allocated object -
// interior pointers included - keeps it alive: root ranges (gc::root,
// Select cases, timer closures), channel buffers, goroutine stacks, saved
// registers, goroutine closures, and the stack of the thread in gort::run.
//
// With several NUMA nodes grey objects wait on one list per node (the node
// whose heap region holds them), and the marker blackens those of its own
// node first: only when its node has nothing grey left does it reach into
// another node's memory. Today one goroutine marks, inside the pause, so
// this orders one thread's remote reads rather than sharing work among
// per-node workers; a concurrent collector's workers get the same rule.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gort/detail/collected.hpp"
#include "runtime/internal/numa.hpp"
#include "runtime/internal/raw_vector.hpp"

namespace gort::gc {

class Marker {
 public:
  // own_stack_from: where the collecting goroutine's own frames end and the
  // collector's begin, the callee-saved registers spilled above it; its
  // stack is scanned from there up. The collector's frames below hold no
  // root, only stale words of its earlier work (the sweeper's, the
  // destructors') that would keep garbage alive. node: the NUMA node whose
  // CPUs it runs on.
  Marker(uintptr_t own_stack_from, int node);

  // Greys the object containing addr, if addr points into one.
  void mark(uintptr_t addr);
  void scan_range(uintptr_t lo, uintptr_t hi);
  // Marks everything reachable from what is grey.
  void drain();

  // Every root. World stopped.
  void mark_roots();

  // Bytes in the objects marked so far: the live heap once drained.
  size_t marked_bytes() const { return marked_bytes_; }
  // Bytes of goroutine stacks and of registered root ranges scanned (what
  // gctrace calls stacks and globals).
  size_t stack_bytes() const { return stack_bytes_; }
  size_t root_range_bytes() const { return root_range_bytes_; }

 private:
  void mark_goroutines();
  void scan_stack(uintptr_t lo, uintptr_t hi) {
    if (lo < hi) stack_bytes_ += hi - lo;
    scan_range(lo, hi);
  }
  // Traces a grey object's fields.
  void blacken(uintptr_t object, Visitor& v);
  // A non-empty grey list, or null when every list is empty.
  internal::RawVector<uintptr_t>* next_grey();

  int node_;
  int nodes_;
  internal::RawVector<uintptr_t> grey_[internal::numa::kMaxNodes];  // off malloc: the world is stopped
  size_t marked_bytes_ = 0;
  size_t stack_bytes_ = 0;
  size_t root_range_bytes_ = 0;
  uintptr_t own_stack_from_;
};

}  // namespace gort::gc
