// What several test programs need: a runtime configuration with a given
// number of Ps, the process's RSS, a raised open-file limit, and a way to
// run a hidden test case of the same binary in a fresh child process (for
// fatal errors, which must end the child, not the test run; fresh: exec,
// not just fork, so process-wide state such as the stack guard mode is
// decided anew).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "gort/runtime.hpp"
#include "gort/waitgroup.hpp"

namespace gort_test {

inline gort::Config procs(int n) {
  gort::Config c;
  c.gomaxprocs = n;
  return c;
}

// The P counts at which the concurrency suites run every case whose
// goroutines interact. Two Ps is the smallest machine that steals; more Ps
// than the CPUs of a small test machine add Ms that the kernel preempts
// anywhere, idle Ps that spin and park, and steals from several victims,
// interleavings that two Ps on two CPUs hardly ever show (marl runs its
// tests at 0 to 64 workers for the same reason).
inline constexpr int kProcCounts[] = {2, 4, 8};

// Collections in a test whose goroutines sit in loops without safe points,
// so that every stop of the world ends by signal: a stop then waits for the
// signal's turn, ~100 ms under ASan and more under TSan, where the test
// would otherwise take minutes. The windows those tests look for open on
// most stops, so fewer stops still find them.
#if defined(__SANITIZE_THREAD__)
inline constexpr int kSignalStopCollections = 40;
#elif defined(__SANITIZE_ADDRESS__)
inline constexpr int kSignalStopCollections = 100;
#else
inline constexpr int kSignalStopCollections = 300;
#endif

// Resident set size in bytes, from /proc/self/statm.
int64_t rss_bytes();

// Zeroes 16 KiB of stack below the caller, where finished frames left
// pointers: a goroutine started later on the same recycled slot would find
// them in its own frames' unwritten slots, and a conservative scan would
// keep what they point to alive (bdwgc's GC_clear_stack, for the same
// reason).
void scrub_stack();

// A goroutine in a loop with no runtime call, which only the preempt signal
// can stop: it spins from construction (which returns once it does) until
// destruction. Made and destroyed on a goroutine.
class SpinningGoroutine {
 public:
  SpinningGoroutine();
  ~SpinningGoroutine();
  SpinningGoroutine(const SpinningGoroutine&) = delete;
  SpinningGoroutine& operator=(const SpinningGoroutine&) = delete;
  uint64_t spins() const { return spins_.load(std::memory_order_relaxed); }

 private:
  std::atomic<bool> quit_{false};
  std::atomic<bool> started_{false};
  std::atomic<uint64_t> spins_{0};
  gort::WaitGroup done_;
};

// Raises the soft open-file limit to the hard one.
void raise_fd_limit();

struct ChildResult {
  int exit_status = -1;  // exit code, or -1 if killed by a signal
  int signal = 0;        // signal that killed it, if any
  std::string err;       // everything written to stderr
  std::string out;       // everything written to stdout
};

// Runs the test case named `test_name` with extra environment variables.
// A child that hangs is killed by SIGALRM after two minutes, so a test of
// something that used to hang fails instead of hanging the suite.
ChildResult run_child(const std::string& test_name, const std::map<std::string, std::string>& env);

// True inside such a child.
bool in_child();

}  // namespace gort_test
