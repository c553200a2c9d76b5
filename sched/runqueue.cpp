#include "sched/runqueue.hpp"

#include <unistd.h>

namespace gort::sched {

bool RunQueue::take_half(G** out) {
  const uint32_t h = head_.load(std::memory_order_acquire);
  const uint32_t t = tail_.load(std::memory_order_relaxed);
  const uint32_t n = (t - h) / 2;
  if (n != kSize / 2) return false;
  for (uint32_t i = 0; i < n; ++i) out[i] = ring_[(h + i) % kSize].load(std::memory_order_relaxed);
  uint32_t expected = h;
  return head_.compare_exchange_strong(expected, h + n, std::memory_order_release);
}

G* RunQueue::pop(bool* from_next, bool ring_first) {
  auto take_next = [this, from_next]() -> G* {
    G* next = next_.load(std::memory_order_relaxed);
    if (!next || !next_.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) return nullptr;
    *from_next = true;
    return next;
  };
  if (!ring_first)
    if (G* g = take_next()) return g;
  *from_next = false;
  for (;;) {
    uint32_t h = head_.load(std::memory_order_acquire);
    const uint32_t t = tail_.load(std::memory_order_relaxed);
    if (t == h) return ring_first ? take_next() : nullptr;
    G* g = ring_[h % kSize].load(std::memory_order_relaxed);
    if (head_.compare_exchange_weak(h, h + 1, std::memory_order_release)) return g;
  }
}

// Copies up to half of victim's ring into this ring's free space (beyond our
// tail, which only we write), then commits by advancing victim's head.
uint32_t RunQueue::grab(RunQueue& victim, bool steal_next, bool victim_running) {
  const uint32_t base = tail_.load(std::memory_order_relaxed);
  for (;;) {
    uint32_t h = victim.head_.load(std::memory_order_acquire);
    const uint32_t t = victim.tail_.load(std::memory_order_acquire);
    uint32_t n = t - h;
    n -= n / 2;
    if (n == 0) {
      if (!steal_next) return 0;
      G* next = victim.next_.load(std::memory_order_acquire);
      if (!next) return 0;
      // The victim is probably about to run it (it was just readied by the
      // goroutine that is parking); give it a moment before taking it away.
      if (victim_running) usleep(3);
      if (!victim.next_.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) continue;
      ring_[base % kSize].store(next, std::memory_order_relaxed);
      return 1;
    }
    if (n > kSize / 2) continue;  // head and tail read at different moments
    for (uint32_t i = 0; i < n; ++i)
      ring_[(base + i) % kSize].store(victim.ring_[(h + i) % kSize].load(std::memory_order_relaxed),
                                      std::memory_order_relaxed);
    if (victim.head_.compare_exchange_weak(h, h + n, std::memory_order_acq_rel)) return n;
  }
}

G* RunQueue::steal_from(RunQueue& victim, bool steal_next, bool victim_running) {
  uint32_t n = grab(victim, steal_next, victim_running);
  if (n == 0) return nullptr;
  const uint32_t t = tail_.load(std::memory_order_relaxed);
  --n;
  G* g = ring_[(t + n) % kSize].load(std::memory_order_relaxed);
  if (n > 0) tail_.store(t + n, std::memory_order_release);
  return g;
}

}  // namespace gort::sched
