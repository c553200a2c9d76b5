// Runtime timers (Go's runtime/time.go, per-P timer heaps since Go 1.14).
//
// Every P keeps a min-heap of timers ordered by `when`, under its own lock.
// A timer stays on the P where it was added until it fires or is deleted.
// The scheduler runs a P's expired timers whenever it looks for work on that
// P; an M with nothing to do runs other Ps' expired timers while stealing,
// and the last M to go idle sleeps in the netpoller only until the earliest
// timer of any P. No thread ever polls the clock in a loop.
//
// A timer's function runs on g0 with no locks held. It must be short and
// must not block: readying a goroutine or a non-blocking channel send.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/internal/lock.hpp"
#include "runtime/internal/raw_vector.hpp"

namespace gort::sched {

struct P;

struct Timer {
  int64_t when = 0;    // nanotime() at which to fire
  int64_t period = 0;  // > 0: fire again every period
  void (*f)(void* arg, int64_t now) = nullptr;
  void* arg = nullptr;
  // Set for a timer nobody holds a handle to (Go's time.After): the heap
  // owns it and calls dispose once it has fired or the runtime stops.
  void (*dispose)(Timer*) = nullptr;

  // Owned by the heap that holds it.
  std::atomic<P*> pp{nullptr};
  int32_t index = -1;
  std::atomic<bool> running{false};
};

class TimerHeap {
 public:
  // Earliest `when` in the heap, 0 if empty; read without the lock.
  int64_t first_when() const { return when0_.load(std::memory_order_acquire); }

  // The caller holds lock for these three.
  void add(Timer* t);
  void remove(Timer* t);
  void fix_top();  // after top()->when changed
  Timer* top() const { return heap_.empty() ? nullptr : heap_[0]; }
  void clear();  // teardown: forget every timer

  internal::Lock lock;

 private:
  void up(size_t i);
  void down(size_t i);
  void publish() { when0_.store(heap_.empty() ? 0 : heap_[0]->when, std::memory_order_release); }

  internal::RawVector<Timer*> heap_;  // off malloc: grown with lock held
  std::atomic<int64_t> when0_{0};
};

// Starts t on the current P (any P when called from a thread without one).
void add_timer(Timer* t);
// Stops t. True if it was pending (it will not fire); false if it already
// fired or was never added. Returns only once t's function is not running,
// so the caller may free t afterwards.
bool del_timer(Timer* t);
// Re-arms t for `when` (and period); same result as del_timer.
bool reset_timer(Timer* t, int64_t when, int64_t period);

// Parks the current goroutine for ns nanoseconds (the runtime's own
// goroutines: mark workers, the scavenger), showing reason as its wait.
void sleep_ns(int64_t ns, const char* reason);

// Runs p's expired timers; returns the next `when` left on p (0: none).
int64_t run_timers(P* p, int64_t now);
// Same, reading the clock only if p has timers at all.
int64_t check_timers(P* p);

}  // namespace gort::sched
