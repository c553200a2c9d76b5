// Every environment knob of the runtime, parsed in one place with one rule.
//
// Names follow Go where Go has the knob (GOMAXPROCS, GOGC, GODEBUG's
// settings); gort's own are prefixed GORT. A malformed value is never ignored and never guessed at:
// the process ends with Go's kind of message (Go itself does this for
// GOMEMLIMIT), e.g.
//   fatal error: malformed GOGC="abc": want a percentage or "off"
// the first time any part of the runtime reads the knobs. README.md lists
// them all; adding one means a field here, its parse in config.cpp, a line
// in the README and a test of its bad values (HACKING.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace gort::internal {

// How much gort's log says (GORTLOG), most to least: spdlog's levels.
enum class LogLevel { kDebug, kInfo, kWarn, kError, kOff };

struct Knobs {
  int gomaxprocs = 0;         // GOMAXPROCS: 1..1024; 0 when unset
  int gogc = 100;             // GOGC: percent; -1 for "off" or any negative value
  // GOMEMLIMIT: the soft memory limit in bytes (Go's syntax: 512MiB, 2GiB,
  // plain bytes, "off"); INT64_MAX when unset or off.
  int64_t memory_limit = INT64_MAX;
  size_t max_stack = 0;       // GORTMAXSTACK: a slot's size, >= 16k; 0 when unset
  uint64_t gc_stress = 0;     // GORTGCSTRESS: a collection every N allocations; 0 off
  // GORTFORCEGCPERIOD: milliseconds without a cycle before sysmon starts
  // one (gc/forcegc.hpp); 0: Go's two minutes
  int64_t force_gc_period_ms = 0;
  bool stack_canary = false;  // GORTSTACKCANARY: set to anything
  // GORTLOG: debug, info, warn, error, off; quiet unless something is wrong
  LogLevel log_level = LogLevel::kWarn;
  // GODEBUG=gctrace=N: a line on stderr per collection when N > 0
  int gctrace = 0;
  // GODEBUG=gcbarrier=hybrid|dijkstra: the write barrier while marking
  // (gc/barrier.hpp); hybrid unless set.
  bool gc_barrier_hybrid = true;
  // GODEBUG=gcrescan=pause: with the Dijkstra barrier, rescan in mark
  // termination every stack that ran since its scan, walking all
  // goroutines (Go 1.5/1.6); unset or `list`: drain the rescan list
  // concurrently first (Go 1.7).
  bool gcrescan_pause = false;
  // GODEBUG=gccheckmark=1: verify each concurrent mark with a second one
  // in the pause (gc/checkmark.hpp).
  bool gccheckmark = false;
  // GODEBUG=gcfinalizers=pause: scan the finalizer records in mark
  // termination (Go 1.5) instead of in root jobs beside the program
  // (unset or `concurrent`, Go 1.6 on).
  bool gcfinalizers_pause = false;
  // GODEBUG=gcshrinkstackoff=1 (Go's name): the collector leaves parked
  // goroutines' unused stack pages committed (stack/shrink.hpp).
  bool gcshrinkstackoff = false;
  // GODEBUG=gcshrinkstack=pause: shrink in mark termination, walking every
  // goroutine (Twitch's Go 1.6); unset or `concurrent`: while each stack is
  // scanned beside the program (Go 1.7 on).
  bool gcshrinkstack_pause = false;
  // GODEBUG=gcstoptheworld=1: mark inside the pause, as before Go 1.5.
  bool gcstoptheworld = false;
  // GODEBUG=gcpacertrace=1: the pacer's lines on stderr, as Go's.
  int gcpacertrace = 0;
  // GORTNUMA: off, on or bind:N (runtime/internal/numa.hpp); unset: on
  // where the machine has several nodes.
  enum class Numa { kUnset, kOff, kOn, kBind } numa = Numa::kUnset;
  int numa_bind_node = 0;      // N of bind:N
  int numa_fake = 0;           // GORTNUMA_FAKE: virtual nodes; 0 off
  bool numa_pin = true;        // GORTNUMAPIN: 0 leaves threads unpinned
  bool numa_mem_bind = false;  // GORTNUMAMEM: bind (MPOL_BIND), else preferred
  const char* trace = nullptr;  // GORTTRACE: where the execution trace goes at exit
};

// Parsed from the environment once per process.
const Knobs& knobs();

// A size with an optional k/m/g suffix (an optional trailing b, any case):
// "262144", "256k", "1m", "2GiB". False when malformed or above 1 TiB.
bool parse_size(std::string_view text, size_t* out);

// A plain decimal integer with an optional leading '-'; false when
// malformed or out of range.
bool parse_int(std::string_view text, long long* out);

}  // namespace gort::internal
