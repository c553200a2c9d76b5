#include "gc/forcegc.hpp"

#include <atomic>

#include "gc/collector.hpp"
#include "gc/pacer.hpp"
#include "runtime/internal/config.hpp"
#include "runtime/internal/lock.hpp"
#include "sched/sched.hpp"

namespace gort::gc {

namespace {

// Go's forcegcperiod.
constexpr int64_t kDefaultPeriodNs = int64_t(120) * 1000 * 1000 * 1000;

int64_t period_ns() {
  const int64_t ms = internal::knobs().force_gc_period_ms;
  return ms > 0 ? ms * 1000 * 1000 : kDefaultPeriodNs;
}

// The end of the last cycle, by nanotime; 0 before the first.
std::atomic<int64_t> last_cycle_end{0};

enum class HelperState { kNone, kRunning, kParked };
internal::Lock helper_lock;
HelperState helper_state = HelperState::kNone;
sched::G* helper_g = nullptr;

void periodic_gc_helper() {
  // Its stack never holds a heap pointer.
  sched::current_g()->holds_no_roots = true;
  for (;;) {
    helper_lock.lock();
    helper_state = HelperState::kParked;
    helper_g = sched::current_g();
    sched::park_unlock(helper_lock, "force gc (idle)");
    start_periodic_cycle();
  }
}

}  // namespace

int64_t periodic_gc(int64_t now) {
  const int64_t last = last_cycle_end.load(std::memory_order_acquire);
  if (last == 0 || Pacer::get().gc_percent() < 0) return 0;
  const int64_t due = last + period_ns();
  if (now < due) return due - now;
  helper_lock.lock();
  const bool parked = helper_state == HelperState::kParked;
  if (parked) helper_state = HelperState::kRunning;
  helper_lock.unlock();
  // Parked means switched out: park_unlock released the lock only then.
  if (parked) {
    // Not again before this cycle has had its period, however long it
    // takes to end.
    last_cycle_end.store(now, std::memory_order_release);
    sched::ready(helper_g);
  }
  return period_ns();
}

void note_cycle_end_for_periodic_gc(int64_t now) {
  last_cycle_end.store(now, std::memory_order_release);
  helper_lock.lock();
  const bool start = helper_state == HelperState::kNone;
  if (start) helper_state = HelperState::kRunning;
  helper_lock.unlock();
  if (start) sched::start_system_goroutine(periodic_gc_helper);
}

void forget_buried_periodic_gc_helper() {
  helper_state = HelperState::kNone;
  helper_g = nullptr;
  last_cycle_end.store(0, std::memory_order_relaxed);
}

}  // namespace gort::gc
