// Shared helpers of the gort benchmark programs: clock, RSS, and the one
// output format every benchmark (and its Go twin) prints:
//   bench=NAME impl=gort key=value ...
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
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

struct Args {
  std::vector<std::string> rest;
  // The i-th argument after the benchmark's name, or fallback if absent.
  int64_t at(size_t i, int64_t fallback) const { return rest.size() > i ? std::stoll(rest[i]) : fallback; }
  int64_t n(int64_t fallback) const { return at(0, fallback); }
};

int spawn(const Args& a);
int idle(const Args& a);
int idlewg(const Args& a);
int pingpong(const Args& a);
int echo(const Args& a);
int alloc(const Args& a);
int gcbench(const Args& a);
int gcpause(const Args& a);

}  // namespace bench
