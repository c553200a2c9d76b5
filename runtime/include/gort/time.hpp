// Go's time package, the parts the scheduler provides: sleep, after,
// after_func, Timer and Ticker. Durations are std::chrono durations; times
// are steady_clock time points (CLOCK_MONOTONIC, the runtime's clock).
//
// Timers live in per-P heaps run by the scheduler (see sched/timer.hpp): a
// sleeping goroutine costs a heap entry, never a thread, and an idle runtime
// sleeps until the earliest timer instead of polling.
#pragma once

#include <chrono>
#include <memory>
#include <type_traits>
#include <utility>

#include "gort/chan.hpp"
#include "gort/gc.hpp"
#include "gort/runtime.hpp"

namespace gort {

using Duration = std::chrono::nanoseconds;
using Clock = std::chrono::steady_clock;
using Time = Clock::time_point;

namespace detail {
struct TimerState;

// What an after_func timer runs. Its captures are a root range: a collected
// pointer captured by the function stays alive while the timer is pending.
// Each firing starts a goroutine with a copy, which the collector scans as
// any goroutine's closure.
class TimerFunc {
 public:
  virtual ~TimerFunc() = default;
  virtual void start_goroutine() const = 0;
};

template <class F>
class TimerFuncOf final : public TimerFunc {
 public:
  explicit TimerFuncOf(F f) : f_(std::move(f)), range_(&f_, sizeof f_) {}
  void start_goroutine() const override { go(f_); }

 private:
  F f_;
  gc::detail::RootRange range_;
};
}  // namespace detail

// Parks the goroutine for at least d (returns at once if d <= 0).
void sleep(Duration d);

// A channel that receives the time once, after d (Go's time.After).
// Like every timer, only inside gort::run (std::logic_error outside).
chan<Time> after(Duration d);

// Go's time.Timer: C receives the time once, after d.
class Timer {
 public:
  explicit Timer(Duration d);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // True if the call stopped the timer; false if it had fired or been
  // stopped already. As in Go, it does not drain C.
  bool stop();
  // Re-arms the timer to fire after d; true if it had been active.
  bool reset(Duration d);

  const chan<Time> C;

  // after_func's timer (use after_func).
  Timer(Duration d, std::unique_ptr<detail::TimerFunc> f);

 private:
  std::unique_ptr<detail::TimerState> state_;
};

// Go's time.Ticker: C receives the time every d; ticks a slow reader misses
// are dropped, never queued.
class Ticker {
 public:
  explicit Ticker(Duration d);
  ~Ticker();
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;

  void stop();
  void reset(Duration d);

  const chan<Time> C;

 private:
  std::unique_ptr<detail::TimerState> state_;
};

// Runs f in its own goroutine after d (Go's time.AfterFunc). The returned
// Timer's stop() cancels it, as does destroying it; its C is nil. f must be
// copyable: each firing runs a copy.
template <class F>
std::unique_ptr<Timer> after_func(Duration d, F&& f) {
  using Fn = std::decay_t<F>;
  return std::make_unique<Timer>(d, std::make_unique<detail::TimerFuncOf<Fn>>(Fn(std::forward<F>(f))));
}

}  // namespace gort
