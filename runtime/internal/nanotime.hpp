// Clocks in nanoseconds, and the CPU's cycle counter. Monotonic: the time
// base of timers, sysmon and benchmarks (Go's nanotime). Wall: Unix time
// for what users compare with their own clocks, such as when a pause ended
// (Go's walltime). Both are served by the vDSO.
#pragma once

#include <cstdint>
#include <ctime>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace gort::internal {

// A duration in nanoseconds as the kernel's timeouts take it.
inline timespec to_timespec(int64_t ns) { return timespec{time_t(ns / 1000000000), long(ns % 1000000000)}; }

inline int64_t nanotime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// nanotime as of the kernel's last tick (up to a few ms behind it), for a
// mark that must cost next to nothing: when a goroutine parked (3 ns
// against nanotime's 20 here). Same time base as nanotime, so
// nanotime() - coarse_nanotime() is never negative.
inline int64_t coarse_nanotime() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The CPU's cycle counter where it has one (Go's cputicks): a few times
// cheaper than nanotime, in units to be calibrated against it. The
// execution tracer stamps its events with it. Elsewhere it is nanotime.
inline int64_t cputicks() {
#if defined(__x86_64__)
  return int64_t(__rdtsc());
#else
  return nanotime();
#endif
}

inline int64_t walltime() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace gort::internal
