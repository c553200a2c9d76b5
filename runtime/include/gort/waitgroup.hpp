// Go's sync.WaitGroup: wait for a collection of goroutines to finish.
// wait() parks the goroutine, never the thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "gort/detail/sema.hpp"

namespace gort {

class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  // Adds delta (may be negative) to the counter; at zero, releases every
  // waiter. Throws panic_error on a negative counter or on misuse.
  void add(int32_t delta);
  void done() { add(-1); }
  void wait();

 private:
  // High 32 bits: counter. Low 32 bits: waiters.
  std::atomic<uint64_t> state_{0};
  sched::Sema sema_;
};

}  // namespace gort
