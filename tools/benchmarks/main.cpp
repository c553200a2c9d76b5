// gort-bench NAME [N] [M] [S]: runs one benchmark and prints its figures on one line.
// tools/bench and tools/compare are the usual way in.
#include <cstdio>
#include <cstring>
#include <string>

#include "common.hpp"

int main(int argc, char** argv) {
  struct Entry {
    const char* name;
    int (*fn)(const bench::Args&);
    const char* what;
  } const entries[] = {
      {"spawn", bench::spawn, "start N goroutines (default 1,000,000) that bump a counter; wait for all"},
      {"idle", bench::idle, "park N goroutines on a channel receive; RSS per goroutine, time to park"},
      {"idlewg", bench::idlewg, "park N goroutines on a WaitGroup; RSS per goroutine, time to park"},
      {"deepidle", bench::deepidle,
       "N goroutines (default 100,000) recurse 64 KiB, park; RSS before and after collections, their pauses"},
      {"pingpong", bench::pingpong, "N round trips (default 2,000,000) over two unbuffered channels"},
      {"alloc", bench::alloc, "N small collected allocations (default 10,000,000), collections included"},
      {"gcbench", bench::gcbench, "Boehm's GCBench: stretch 18, long-lived 16, array 500,000, depths 4..16"},
      {"gcpause", bench::gcpause,
       "GC pauses: N parked goroutines holding trees (100,000), M MiB live (32), S s churn (5)"},
      {"gctune", bench::gctune,
       "GC frequency with a 32 MiB live heap: MODE none, ballast (200 MiB), memlimit (300 MiB) or tuner"},
      {"echo", bench::echo, "N loopback TCP clients (default 1,000), M 64-byte round trips each (default 100)"},
  };
  if (argc >= 2) {
    for (const auto& e : entries) {
      if (std::strcmp(argv[1], e.name) != 0) continue;
      bench::Args args;
      for (int i = 2; i < argc; ++i) args.rest.emplace_back(argv[i]);
      return e.fn(args);
    }
  }
  std::fprintf(stderr, "usage: gort-bench NAME [N] [M] [S]\n");
  for (const auto& e : entries) std::fprintf(stderr, "  %-9s %s\n", e.name, e.what);
  return 2;
}
