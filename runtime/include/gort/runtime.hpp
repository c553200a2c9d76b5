// gort's entry points: start the runtime, start goroutines, query it.
//
//   int main() {
//     return gort::run([] {
//       gort::WaitGroup wg;
//       for (int i = 0; i < 10; ++i) {
//         wg.add(1);
//         gort::go([&wg, i] { work(i); wg.done(); });
//       }
//       wg.wait();
//       return 0;
//     });
//   }
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "gort/detail/gofunc.hpp"
#include "gort/detail/safepoint.hpp"

namespace gort {

struct Config {
  // Number of Ps. 0: the GOMAXPROCS environment variable, else the number
  // of CPUs this process may run on.
  int gomaxprocs = 0;
  // Size of every goroutine stack slot, guard page included. 0: the
  // GORTMAXSTACK environment variable (e.g. "256k", "1m"), else 256 KiB.
  // Fixed once the first stack exists in the process.
  size_t max_stack = 0;
};

namespace detail {
// Runs fn(arg) as a blocking call: registers spilled where the collector
// can see them, the P released to sysmon while it runs.
void blocking_call(void (*fn)(void*), void* arg);
void* newproc_prepare();
GoFunc& newproc_func(void* g);
void newproc_start(void* g);
void run_main(void (*fn)(void*), void* arg, const Config& cfg);
}  // namespace detail

inline void safepoint();

// Starts a goroutine running f(args...). Arguments are copied or moved into
// the goroutine, as Go evaluates them at the go statement.
template <class F, class... Args>
void go(F&& f, Args&&... args) {
  safepoint();
  void* g = detail::newproc_prepare();
  if constexpr (sizeof...(Args) == 0) {
    detail::newproc_func(g).emplace(std::forward<F>(f));
  } else {
    detail::newproc_func(g).emplace(
        [fn = std::forward<F>(f), tup = std::make_tuple(std::forward<Args>(args)...)]() mutable {
          std::apply(fn, std::move(tup));
        });
  }
  detail::newproc_start(g);
}

// Starts the runtime, runs f as the main goroutine and returns its result
// once it returns. Like a Go program whose main returns, other goroutines
// still running or blocked are abandoned. An exception escaping f is
// rethrown here; one escaping any other goroutine ends the process with
// Go's "panic: ..." message.
template <class F>
auto run(F&& f, Config cfg = {}) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  struct Frame {
    F& fn;
    std::optional<std::conditional_t<std::is_void_v<R>, int, R>> result;
  } frame{f, std::nullopt};
  detail::run_main(
      [](void* arg) {
        auto* fr = static_cast<Frame*>(arg);
        if constexpr (std::is_void_v<R>) {
          fr->fn();
        } else {
          fr->result.emplace(fr->fn());
        }
      },
      &frame, cfg);
  if constexpr (!std::is_void_v<R>) return std::move(*frame.result);
}

// Lets other goroutines run (Go's runtime.Gosched).
void yield();

// A safe point: if sysmon has asked the running goroutine to make way (it
// has run for over 10 ms), it goes to the back of the global run queue
// here. Every channel, sync, net and time operation is one; a long loop
// that makes no such call should call this. Costs one load and a branch.
inline void safepoint() { detail::safepoint(); }

// Runs f, a call that blocks its thread (a blocking system call, C library
// or file I/O), without stopping other goroutines: if f lasts, sysmon hands
// this goroutine's P to another thread (Go's entersyscall/exitsyscall). f
// must not use gort itself (channels, locks, go) - it runs outside the
// scheduler. Outside a goroutine it simply calls f.
template <class F>
auto blocking(F&& f) -> std::invoke_result_t<F&> {
  using R = std::invoke_result_t<F&>;
  struct Frame {
    F& fn;
    std::optional<std::conditional_t<std::is_void_v<R>, int, R>> result;
    std::exception_ptr error;
  } frame{f, std::nullopt, nullptr};
  detail::blocking_call(
      [](void* arg) {
        auto* fr = static_cast<Frame*>(arg);
        try {
          if constexpr (std::is_void_v<R>) fr->fn();
          else fr->result.emplace(fr->fn());
        } catch (...) {
          fr->error = std::current_exception();
        }
      },
      &frame);
  if (frame.error) std::rethrow_exception(frame.error);
  if constexpr (!std::is_void_v<R>) return std::move(*frame.result);
}

// The running goroutine's id; 0 outside goroutines.
uint64_t goid();

// Number of Ps in the running runtime (Go's runtime.GOMAXPROCS(0)).
int gomaxprocs();

// Goroutines started and not yet finished (Go's runtime.NumGoroutine).
int64_t num_goroutine();

// Prints every goroutine to out, as SIGQUIT does without ending the
// process (Go's runtime.Stack(buf, true)): its id, what it waits for and
// for how long (`goroutine 7 [chan receive, 1200 ms]:`; Go's whole minutes
// from one minute on), and its stack, innermost frame first, each a
// function and its file:line (or object +offset without debug
// information), named by binutils' addr2line. The world stops only while
// the goroutines are noted. Callable from any thread while the runtime
// runs; prints nothing otherwise.
void dump_goroutines(std::FILE* out);

// Scheduler figures, for tests and tools.
struct SchedStats {
  std::vector<uint64_t> executed_per_p;  // goroutine runs per P
};
SchedStats sched_stats();

}  // namespace gort
