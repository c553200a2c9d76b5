// Where G records live: one large MAP_NORESERVE reservation, carved by a
// bump pointer, never returned (Go never frees a g either; dead ones are
// recycled through the free lists). The arena is Go's allgs too: every G
// record ever made, in order, readable without a lock.
//
// Why not plain new: a million goroutines spawned from a non-main thread
// grow a malloc arena step by step with mprotect, and every mprotect takes
// the process's mmap lock for writing, stalling the page faults of every
// other M that is touching a fresh stack. Faults in a reservation need no
// such lock; and a new G record is made under no lock that would forbid it.
#pragma once

#include <atomic>
#include <cstddef>

#include "runtime/internal/lock.hpp"
#include "sched/g.hpp"

namespace gort::sched {

class GArena {
 public:
  static GArena& get();
  // A zero-filled, constructed G.
  G* alloc();

  // Every G record made so far, for the collector and for teardown. A
  // record is complete before it is counted; records are never freed.
  size_t count() const { return count_.load(std::memory_order_acquire); }
  G* at(size_t i) const { return reinterpret_cast<G*>(base_ + i * kStride); }

  static constexpr size_t kStride = (sizeof(G) + 63) & ~size_t(63);  // no false sharing

 private:
  GArena() = default;
  static constexpr size_t kReserveBytes = size_t(8) << 30;  // ~30 million Gs

  internal::Lock lock_;
  char* base_ = nullptr;
  std::atomic<size_t> count_{0};
};

}  // namespace gort::sched
