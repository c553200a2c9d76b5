// Monotonic clock in nanoseconds: the time base of timers, sysmon and
// benchmarks (Go's nanotime). CLOCK_MONOTONIC is served by the vDSO.
#pragma once

#include <cstdint>
#include <ctime>

namespace gort::internal {

inline int64_t nanotime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace gort::internal
