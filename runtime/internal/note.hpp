// A one-shot wake-up event for a thread (Go's note: notesleep/notewakeup).
// An M with nothing to do sleeps on its note; whoever hands it work wakes it.
// Wake-before-sleep is not lost: the flag stays set until clear().
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/internal/futex.hpp"

namespace gort::internal {

class Note {
 public:
  void wakeup() {
    if (key_.exchange(1, std::memory_order_release) == 0) futex_wake(&key_, 1);
  }
  void sleep() {
    while (key_.load(std::memory_order_acquire) == 0) futex_wait(&key_, 0);
  }
  // Returns true if woken, false if timeout_ns elapsed first. Spins for
  // the first spin_ns of it (its first 5 us on the CPU, then yielding it
  // each time round): for a wake-up expected within microseconds, which a
  // futex sleep would stretch by the kernel's wake-up latency.
  bool sleep_for(int64_t timeout_ns, int64_t spin_ns = 0);
  void clear() { key_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint32_t> key_{0};
};

}  // namespace gort::internal
