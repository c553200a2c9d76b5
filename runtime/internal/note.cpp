#include "runtime/internal/note.hpp"

#include <sched.h>

#include <algorithm>

#include "runtime/internal/nanotime.hpp"

namespace gort::internal {

namespace {
// A sched_yield costs 2-3 us on a virtual machine (measured here), as long
// as the wake-ups a spinning waiter expects from a thread already running
// on another CPU: those are watched for in a plain spin first.
constexpr int64_t kBusySpinNs = 5000;
}  // namespace

bool Note::sleep_for(int64_t timeout_ns, int64_t spin_ns) {
  const int64_t start = nanotime();
  const int64_t deadline = start + timeout_ns;
  const int64_t spin_until = start + std::min(spin_ns, timeout_ns);
  const int64_t busy_until = start + std::min(spin_ns, kBusySpinNs);
  while (key_.load(std::memory_order_acquire) == 0 && nanotime() < busy_until)
    for (int i = 0; i < 16; ++i) __builtin_ia32_pause();
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
