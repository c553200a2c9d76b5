// Shared helpers of the gort benchmark programs: clock, RSS, progress, and
// the one output format every benchmark (and its Go twin) prints:
//   bench=NAME impl=gort key=value ...
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace bench {

// The runtime's clock (CLOCK_MONOTONIC), as every benchmark's Go twin uses.
inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Resident set size in bytes, from /proc/self/statm.
inline int64_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  long size = 0, resident = 0;
  if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
  std::fclose(f);
  return int64_t(resident) * sysconf(_SC_PAGESIZE);
}

// One line on stderr saying which phase a benchmark that runs for seconds
// has reached, so a long run shows it is alive while stdout keeps only the
// figures line that scripts parse. Its Go twin prints the same lines. A
// line costs microseconds; the phases it marks last a second or more.
__attribute__((format(printf, 1, 2))) inline void progress(const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
}

// The pauses of cycles first..last (counting from 1) still in a ring of
// the last 256 (gc::Stats::pause_ns, Go's MemStats.PauseNs), in ns, sorted.
template <class Ring>
std::vector<uint64_t> pauses_in_ring(const Ring& ring, uint64_t first, uint64_t last) {
  std::vector<uint64_t> pauses;
  for (uint64_t k = std::max<uint64_t>(first, last >= 256 ? last - 255 : 1); k <= last; ++k)
    pauses.push_back(ring[(k - 1) % 256]);
  std::sort(pauses.begin(), pauses.end());
  return pauses;
}

// The p-th percentile (0..1) of sorted pauses, in microseconds. No cycle,
// no pause to report: nan, not a zero that would read as a pause too short
// to measure.
inline double percentile_us(const std::vector<uint64_t>& sorted, double p) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  return double(sorted[size_t(p * double(sorted.size() - 1))]) / 1000.0;
}

struct Args {
  std::vector<std::string> rest;
  // The i-th argument after the benchmark's name, or fallback if absent.
  int64_t at(size_t i, int64_t fallback) const { return rest.size() > i ? std::stoll(rest[i]) : fallback; }
  int64_t n(int64_t fallback) const { return at(0, fallback); }
};

int spawn(const Args& a);
int idle(const Args& a);
int idlewg(const Args& a);
int deepidle(const Args& a);
int pingpong(const Args& a);
int echo(const Args& a);
int alloc(const Args& a);
int gcbench(const Args& a);
int gcpause(const Args& a);
int gctune(const Args& a);

}  // namespace bench
