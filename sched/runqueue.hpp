// A P's local run queue (Go's p.runq/runnext, proc.go runqput/runqget/runqsteal).
//
// A ring of 256 G pointers with a head and a tail index. Only the owning P
// appends (so the tail is written by one thread), while any P may take from
// the head with a compare-and-swap: the owner pops one, a thief grabs half.
// No lock on any path.
//
// runnext is a one-slot fast lane in front of the ring. A goroutine readied
// by the running one (the receiver of a channel hand-off, a newly spawned
// goroutine) goes there, so a producer/consumer pair runs back to back on
// one P with warm caches; whatever it displaces moves to the ring's tail.
#pragma once

#include <atomic>
#include <cstdint>

#include "sched/g.hpp"

namespace gort::sched {

class RunQueue {
 public:
  static constexpr uint32_t kSize = 256;

  // Owner only. Makes g the next G to run; returns the G it displaced.
  G* set_next(G* g) {
    G* old = next_.load(std::memory_order_relaxed);
    while (!next_.compare_exchange_weak(old, g, std::memory_order_acq_rel)) {
    }
    return old;
  }

  // Owner only. Appends g; false when the ring is full.
  bool push(G* g) {
    const uint32_t h = head_.load(std::memory_order_acquire);
    const uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t - h >= kSize) return false;
    ring_[t % kSize].store(g, std::memory_order_relaxed);
    tail_.store(t + 1, std::memory_order_release);
    return true;
  }

  // Owner only, when push failed: moves half the ring into out (oldest
  // first, kSize / 2 of them) for the global queue. False if thieves changed
  // the ring meanwhile (then push may succeed again).
  bool take_half(G** out);

  // Owner only. Next G to run, runnext first (the ring first when
  // ring_first); *from_next tells which.
  G* pop(bool* from_next, bool ring_first = false);

  // Owner of *this: steals about half of victim's Gs into this ring and
  // returns one of them to run now. steal_next also takes victim's runnext
  // when its ring is empty.
  G* steal_from(RunQueue& victim, bool steal_next, bool victim_running);

  // Any thread. Racy by nature: a hint, re-checked by whoever acts on it.
  bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire) &&
           next_.load(std::memory_order_acquire) == nullptr;
  }
  bool has_queued() const { return head_.load(std::memory_order_acquire) != tail_.load(std::memory_order_acquire); }

 private:
  uint32_t grab(RunQueue& victim, bool steal_next, bool victim_running);

  alignas(64) std::atomic<uint32_t> head_{0};
  alignas(64) std::atomic<uint32_t> tail_{0};
  std::atomic<G*> next_{nullptr};
  std::atomic<G*> ring_[kSize] = {};
};

}  // namespace gort::sched
