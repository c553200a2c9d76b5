#include "runtime/internal/note.hpp"

#include <sched.h>

#include <algorithm>

#include "runtime/internal/nanotime.hpp"

namespace gort::internal {

bool Note::sleep_for(int64_t timeout_ns, int64_t spin_ns) {
  const int64_t start = nanotime();
  const int64_t deadline = start + timeout_ns;
  const int64_t spin_until = start + std::min(spin_ns, timeout_ns);
  while (key_.load(std::memory_order_acquire) == 0) {
    if (nanotime() >= spin_until) break;
    // Not a busy spin: whoever is to wake us may be queued behind us on
    // this very CPU (a thread we just woke often is), and a spin would
    // keep it off for a whole time slice, milliseconds.
    sched_yield();
  }
  while (key_.load(std::memory_order_acquire) == 0) {
    const int64_t left = deadline - nanotime();
    if (left <= 0) return false;
    futex_wait(&key_, 0, left);
  }
  return true;
}

}  // namespace gort::internal
