// Where G records live: one large MAP_NORESERVE reservation, carved by a
// bump pointer and never returned (Go never frees a g either; dead ones are
// recycled through the free lists).
//
// Why not plain new: a million goroutines spawned from a non-main thread
// grow a malloc arena step by step with mprotect, and every mprotect takes
// the process's mmap lock for writing, stalling the page faults of every
// other M that is touching a fresh stack. Faults in a reservation need no
// such lock.
#pragma once

#include <cstddef>

#include "runtime/internal/lock.hpp"
#include "sched/g.hpp"

namespace gort::sched {

class GArena {
 public:
  static GArena& get();
  // A zero-filled, constructed G.
  G* alloc();
  // Makes every G record available again (runtime teardown: all Gs dead).
  void reset();

 private:
  GArena() = default;
  static constexpr size_t kReserveBytes = size_t(8) << 30;  // ~30 million Gs

  internal::Lock lock_;
  char* base_ = nullptr;
  size_t used_ = 0;
};

}  // namespace gort::sched
