// Recycling of stack slots, two levels deep as in Go's stackcache/stackpool
// (runtime/stack.go):
//
//   per-P Cache  -- no lock, owned by the P that runs the goroutines
//        | refill / drain in batches of half its capacity
//   global Pool  -- one runtime lock; new slots are carved from Space here
//
// A slot in a Cache keeps all its committed pages: it is about to be used
// again. A slot that reaches the Pool is trimmed: the "warm" part of the
// Pool (a bounded number of slots) keeps only its top page committed, enough
// for a new goroutine to start and park without a page fault; beyond that,
// slots are decommitted completely, so a burst of a million goroutines gives
// its memory back when it ends.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "gort/detail/lock.hpp"
#include "stack/stack.hpp"

namespace gort::stack {

class Pool {
 public:
  static Pool& get();

  // Fills out[0..n) with slots, carving new ones when the pool is empty.
  void take(Stack* out, size_t n);
  // Gives n slots back, trimming their committed pages.
  void give(const Stack* in, size_t n);

  size_t warm() const;
  size_t cold() const;

 private:
  static constexpr size_t kMaxWarm = 4096;
  mutable sched::Lock lock_;
  std::vector<Stack> warm_;
  std::vector<Stack> cold_;
};

class Cache {
 public:
  static constexpr size_t kCapacity = 32;

  Stack alloc() {
    if (n_ == 0) refill();
    return slots_[--n_];
  }
  void free(const Stack& s) {
    if (n_ == kCapacity) drain(kCapacity / 2);
    slots_[n_++] = s;
  }
  // Returns every cached slot to the global pool (a P going away).
  void drain_all() { drain(n_); }

 private:
  void refill();
  void drain(size_t count);

  std::array<Stack, kCapacity> slots_{};
  size_t n_ = 0;
};

}  // namespace gort::stack
