#include "gc/scavenger.hpp"

#include <algorithm>

#include "gc/collector.hpp"
#include "gc/mheap.hpp"
#include "gort/detail/safepoint.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/nanotime.hpp"
#include "sched/sched.hpp"
#include "sched/timer.hpp"

namespace gort::gc {

namespace {

// Go's scavenger releases 64 KiB per step.
constexpr size_t kStepBytes = size_t(64) << 10;
// The work of one round, then a sleep of kSleepRatio times as long: 1% of
// one CPU (Go's scavengePercent).
constexpr int64_t kRoundNs = 1000000;
constexpr int64_t kSleepRatio = 99;
// The retained heap may stay this far over the heap goal (Go's
// retainExtraPercent).
constexpr size_t kRetainExtraPercent = 10;

enum class ScavengerState { kNone, kRunning, kParked };
internal::Lock scavenger_lock;
ScavengerState scavenger_state = ScavengerState::kNone;
bool wake_pending = false;  // a cycle ended while it ran
sched::G* scavenger_g = nullptr;

// What the retained heap is over the retained goal.
size_t excess(size_t retained_goal) {
  const Heap& heap = Heap::get();
  // Released first: pages the heap grows by count as released before they
  // count as carved.
  const size_t released = heap.bytes_released();
  const size_t carved = heap.bytes_in_spans();
  const size_t retained = carved > released ? carved - released : 0;
  return retained > retained_goal ? retained - retained_goal : 0;
}

struct Round {
  size_t released = 0;
  int64_t worked_ns = 0;
};

// One round: releases in steps until the heap is at its retained goal, no
// committed free page is left, or the round's time is up.
Round scavenge_round() {
  const size_t goal = collector_stats().next_gc;
  const size_t retained_goal = goal + goal / 100 * kRetainExtraPercent;
  Round r;
  for (size_t over = excess(retained_goal); over > 0 && r.worked_ns < kRoundNs; over = excess(retained_goal)) {
    // Only the releasing counts as work: not the time other goroutines run
    // at the safe point below.
    const int64_t start = internal::nanotime();
    const size_t released = Heap::get().scavenge(std::min(over, kStepBytes));
    r.worked_ns += internal::nanotime() - start;
    if (released == 0) break;
    r.released += released;
    gort::detail::safepoint();
  }
  return r;
}

void background_scavenge() {
  // Its stack never holds a heap pointer.
  sched::current_g()->holds_no_roots = true;
  for (;;) {
    // A round cut short by its time sleeps in proportion, then goes on; one
    // that ran out of work (at the goal, or with the heap's retained pages
    // all in use) waits for the next cycle.
    const Round r = scavenge_round();
    if (r.released > 0 && r.worked_ns >= kRoundNs) {
      // A round measured longer than planned lost its thread to the kernel
      // for the difference: that time was not the scavenger's CPU.
      sched::sleep_ns(std::min(r.worked_ns, 2 * kRoundNs) * kSleepRatio, "GC scavenge wait");
      continue;
    }
    scavenger_lock.lock();
    if (wake_pending) {
      wake_pending = false;
      scavenger_lock.unlock();
      continue;
    }
    scavenger_state = ScavengerState::kParked;
    scavenger_g = sched::current_g();
    sched::park_unlock(scavenger_lock, "GC scavenge wait");
  }
}

}  // namespace

size_t scavenge_now(size_t bytes) {
  // A safe point: releasing holds off the stop signal stretch by stretch,
  // so a caller looping on it must still stop for the world.
  gort::detail::safepoint();
  return Heap::get().scavenge(bytes);
}

void wake_scavenger() {
  scavenger_lock.lock();
  const ScavengerState was = scavenger_state;
  if (was == ScavengerState::kRunning) wake_pending = true;
  scavenger_state = ScavengerState::kRunning;
  scavenger_lock.unlock();
  // Parked means switched out: park_unlock released the lock only then.
  if (was == ScavengerState::kParked) sched::ready(scavenger_g);
  if (was == ScavengerState::kNone) sched::start_system_goroutine(background_scavenge);
}

void forget_buried_scavenger() {
  scavenger_state = ScavengerState::kNone;
  scavenger_g = nullptr;
  wake_pending = false;
}

}  // namespace gort::gc
