// The global run queue (Go's sched.runq), guarded by sched.lock.
//
// A growable ring of G pointers rather than a list linked through the Gs:
// moving a batch to a P then copies pointers without touching the Gs
// themselves. Those were last written on another core (the one that spawned
// or readied them), so walking a linked list would take a cache miss per G
// while holding sched.lock, stalling every other M that needs it.
#pragma once

#include <cstddef>
#include <utility>

#include "runtime/internal/raw_vector.hpp"
#include "sched/g.hpp"

namespace gort::sched {

class GlobalRunQueue {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  void push(G* g) {
    if (size_ == ring_.size()) grow();
    ring_[(head_ + size_) % ring_.size()] = g;
    ++size_;
  }
  G* pop() {
    G* g = ring_[head_];
    head_ = (head_ + 1) % ring_.size();
    --size_;
    return g;
  }
  void clear() { head_ = size_ = 0; }

 private:
  void grow() {
    internal::RawVector<G*> bigger;
    bigger.resize(ring_.size() == 0 ? 256 : ring_.size() * 2);
    for (size_t i = 0; i < size_; ++i) bigger[i] = ring_[(head_ + i) % ring_.size()];
    ring_ = std::move(bigger);
    head_ = 0;
  }

  internal::RawVector<G*> ring_;  // its size is the ring's capacity; off malloc, under sched.lock
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace gort::sched
