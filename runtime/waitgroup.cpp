// WaitGroup, after Go's sync/waitgroup.go: the counter and the waiter count
// share one 64-bit word so that "counter reached zero" and "who is waiting"
// are decided by a single atomic operation.
#include "gort/waitgroup.hpp"

#include "gort/panic.hpp"
#include "gort/runtime.hpp"
#include "sched/sched.hpp"
#include "sched/sema.hpp"

namespace gort {

void WaitGroup::add(int32_t delta) {
  const uint64_t state =
      state_.fetch_add(uint64_t(int64_t(delta)) << 32, std::memory_order_acq_rel) + (uint64_t(int64_t(delta)) << 32);
  const int32_t v = int32_t(state >> 32);
  const uint32_t w = uint32_t(state);
  if (v < 0) throw panic_error("sync: negative WaitGroup counter");
  if (w != 0 && delta > 0 && v == delta) throw panic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  if (v > 0 || w == 0) return;
  // Counter is zero with waiters: nobody may touch the group now but us.
  if (state_.load(std::memory_order_acquire) != state)
    throw panic_error("sync: WaitGroup misuse: Add called concurrently with Wait");
  releasing_.fetch_add(1, std::memory_order_acq_rel);
  state_.store(0, std::memory_order_release);
  sched::semrelease(&sema_, w, false);
  releasing_.fetch_sub(1, std::memory_order_release);  // our last touch of the group
}

// Whoever returns from wait() may free the group: first let the add() that
// released us finish with it.
void WaitGroup::wait_released() const {
  for (int spins = 0; releasing_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 64) __builtin_ia32_pause();
    else sched::yield();
  }
}

void WaitGroup::wait() {
  safepoint();
  uint64_t state = state_.load(std::memory_order_acquire);
  for (;;) {
    if ((state >> 32) == 0) {
      wait_released();
      return;
    }
    if (state_.compare_exchange_weak(state, state + 1, std::memory_order_acq_rel)) {
      sched::semacquire(&sema_, false, "sync.WaitGroup.Wait");
      if (state_.load(std::memory_order_acquire) != 0)
        throw panic_error("sync: WaitGroup is reused before previous Wait has returned");
      wait_released();
      return;
    }
  }
}

}  // namespace gort
