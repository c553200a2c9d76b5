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
  // A marker running on node's CPUs.
  explicit Marker(int node);

  // Greys the object containing addr, if addr points into one.
  void mark(uintptr_t addr);
  void scan_range(uintptr_t lo, uintptr_t hi);
  // Marks everything reachable from what is grey.
  void drain();

  // Every root. World stopped.
  void mark_roots();

 private:
  void mark_goroutines();
  // Traces a grey object's fields.
  void blacken(uintptr_t object, Visitor& v);
  // A non-empty grey list, or null when every list is empty.
  internal::RawVector<uintptr_t>* next_grey();

  int node_;
  int nodes_;
  internal::RawVector<uintptr_t> grey_[internal::numa::kMaxNodes];  // off malloc: the world is stopped
};

}  // namespace gort::gc
