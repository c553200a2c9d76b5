// Marking (Go's mgcmark.go, the stop-the-world flavour): grey objects wait
// on a work list; blackening one runs its type's trace() over each element,
// which greys whatever the gc::ref fields point to. Roots come in two kinds:
// precise ones (gc::root slots) and conservative ranges (goroutine stacks,
// saved registers, goroutine closures), where any word that points into an
// allocated object - interior pointers included - keeps it alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "gort/gc.hpp"

namespace gort::gc {

class Marker {
 public:
  // Greys the object containing addr, if addr points into one.
  void mark(uintptr_t addr);
  void scan_range(uintptr_t lo, uintptr_t hi);
  // Marks everything reachable from what is grey.
  void drain();
  Visitor visitor() { return Visitor(this); }

  // Every root: registered gc::root slots, every goroutine's stack and
  // closure, the collecting goroutine's registers. World stopped.
  void mark_roots();

 private:
  std::vector<uintptr_t> grey_;
};

}  // namespace gort::gc
