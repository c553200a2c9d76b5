// Monotonic clock in nanoseconds: the time base of timers, sysmon and
// benchmarks (Go's nanotime). CLOCK_MONOTONIC is served by the vDSO.
#pragma once

#include <cstdint>
#include <ctime>

namespace gort::internal {

// A duration in nanoseconds as the kernel's timeouts take it.
inline timespec to_timespec(int64_t ns) { return timespec{time_t(ns / 1000000000), long(ns % 1000000000)}; }

inline int64_t nanotime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace gort::internal
