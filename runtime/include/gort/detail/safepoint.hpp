// The safe point's contract with the runtime: gort::safepoint() is inline,
// one load and a branch; the runtime bumps the counter when some goroutine
// is asked to yield (or everything is shutting down) and the slow path does
// the rest.
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::detail {

extern std::atomic<uint32_t> preempt_requests;
void preempt_check_slow();

inline void safepoint() {
  if (preempt_requests.load(std::memory_order_relaxed) != 0) [[unlikely]]
    preempt_check_slow();
}

}  // namespace gort::detail
