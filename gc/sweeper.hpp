// Sweeping (Go's mgcsweep.go), done in the pause for now: in every span the
// mark bits become the allocation bits. Dead objects with a destructor to
// run are kept allocated and listed; their destructors run after the world
// restarts, and their memory is freed by the next cycle.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/internal/raw_vector.hpp"

namespace gort::gc {

struct SweepResult {
  size_t live_bytes = 0;
  uint64_t freed_objects = 0;
  internal::RawVector<uintptr_t> to_destroy;  // headers of dead objects whose destructors are due
};

SweepResult sweep();

}  // namespace gort::gc
