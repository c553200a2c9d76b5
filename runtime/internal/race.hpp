// Happens-before edges ThreadSanitizer cannot see (Go's raceacquire /
// racerelease): a PollDesc's address travels from epoll_ctl through the
// kernel to another thread's epoll_wait. Without TSan these are empty.
#pragma once

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace gort::internal {

inline void race_release([[maybe_unused]] void* addr) {
#if defined(__SANITIZE_THREAD__)
  __tsan_release(addr);
#endif
}

inline void race_acquire([[maybe_unused]] void* addr) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(addr);
#endif
}

}  // namespace gort::internal
