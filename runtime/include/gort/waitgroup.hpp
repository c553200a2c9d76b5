// Go's sync.WaitGroup: wait for a collection of goroutines to finish.
// wait() parks the goroutine, never the thread.
#pragma once

#include <atomic>
#include <cstdint>

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
  void wait_released() const;

  // High 32 bits: counter. Low 32 bits: waiters.
  std::atomic<uint64_t> state_{0};
  std::atomic<uint32_t> sema_{0};  // waiters wait in the runtime's table, keyed by its address
  // Non-zero while the add() that reached zero still touches the group:
  // nobody's wait() returns before, so that its caller may free the group.
  std::atomic<uint32_t> releasing_{0};
};

}  // namespace gort
