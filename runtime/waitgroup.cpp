// WaitGroup, after Go's sync/waitgroup.go: the counter and the waiter count
// share one 64-bit word so that "counter reached zero" and "who is waiting"
// are decided by a single atomic operation.
#include "gort/waitgroup.hpp"

#include "gort/panic.hpp"
#include "gort/runtime.hpp"

namespace gort {

void WaitGroup::add(int32_t delta) {
  const uint64_t state = state_.fetch_add(uint64_t(int64_t(delta)) << 32, std::memory_order_acq_rel) +
                         (uint64_t(int64_t(delta)) << 32);
  const int32_t v = int32_t(state >> 32);
  const uint32_t w = uint32_t(state);
  if (v < 0) throw panic_error("sync: negative WaitGroup counter");
  if (w != 0 && delta > 0 && v == delta)
    throw panic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  if (v > 0 || w == 0) return;
  // Counter is zero with waiters: nobody may touch the group now but us.
  if (state_.load(std::memory_order_acquire) != state)
    throw panic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  state_.store(0, std::memory_order_release);
  sema_.release(w);
}

void WaitGroup::wait() {
  safepoint();
  uint64_t state = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((state >> 32) == 0) {
      sema_.wait_quiescent();  // the last done() may still be waking others
      return;
    }
    if (state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel)) {
      sema_.acquire();
      if (state_.load(std::memory_order_acquire) != 0)
        throw panic_error("sync: WaitGroup is reused before previous Wait has returned");
      return;
    }
  }
}

}  // namespace gort
