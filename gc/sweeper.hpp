// Sweeping (Go's mgcsweep.go), done in the pause for now: in every span the
// mark bits become the allocation bits. Dead objects with a destructor to
// run are kept allocated and listed; their destructors run after the world
// restarts, and their memory is freed by the next cycle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace gort::gc {

struct SweepResult {
  size_t live_bytes = 0;
  size_t live_objects = 0;
  uint64_t freed_objects = 0;
  std::vector<uintptr_t> to_finalize;  // headers of dead objects to destroy
};

SweepResult sweep();

}  // namespace gort::gc
