#include "runtime/internal/note.hpp"

#include "runtime/internal/nanotime.hpp"

namespace gort::internal {

bool Note::sleep_for(int64_t timeout_ns) {
  const int64_t deadline = nanotime() + timeout_ns;
  while (key_.load(std::memory_order_acquire) == 0) {
    const int64_t left = deadline - nanotime();
    if (left <= 0) return false;
    futex_wait(&key_, 0, left);
  }
  return true;
}

}  // namespace gort::internal
