#include "runtime/internal/lock.hpp"

#include "runtime/internal/futex.hpp"

namespace gort::internal {

}  // namespace gort::internal

// Initial-exec: an offset from the thread pointer, with no lazy allocation
// that a signal handler could trip over. C linkage and hidden: the asm of
// add_locks_held names it, no C++ code outside this file can.
extern "C" {
__attribute__((visibility("hidden"))) __thread int gort_locks_held_tls __attribute__((tls_model("initial-exec"))) =
    0;
}

namespace gort::internal {

__attribute__((noinline, noipa)) int& locks_held() { return gort_locks_held_tls; }

}  // namespace gort::internal

namespace gort::detail {

void add_locks_held_call(int delta) { internal::locks_held() += delta; }

}  // namespace gort::detail

namespace gort::internal {

void Lock::lock_slow() {
  for (int spin = 0; spin < 100; ++spin) {
    uint32_t expected = 0;
    if (state_.load(std::memory_order_relaxed) == 0 &&
        state_.compare_exchange_weak(expected, 1, std::memory_order_acquire))
      return;
    __builtin_ia32_pause();
  }
  // Announce a sleeper by moving to state 2; whoever unlocks will wake one.
  while (state_.exchange(2, std::memory_order_acquire) != 0) futex_wait(&state_, 2);
}

void Lock::wake_one() { futex_wake(&state_, 1); }

}  // namespace gort::internal
