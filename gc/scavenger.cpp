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

// What the retained heap is over its goal.
size_t excess() {
  const Heap& heap = Heap::get();
  const size_t retained = heap.bytes_in_spans() - heap.bytes_released();
  const size_t goal = collector_stats().next_gc;
  const size_t target = goal + goal / 100 * kRetainExtraPercent;
  return retained > target ? retained - target : 0;
}

// One round: releases in steps until the heap is at its retained goal or
// the round's time is up. Returns the time it worked, 0 if nothing was due.
int64_t scavenge_round() {
  const int64_t start = internal::nanotime();
  int64_t now = start;
  for (size_t over = excess(); over > 0 && now - start < kRoundNs; over = excess()) {
    if (Heap::get().scavenge(std::min(over, kStepBytes)) == 0) break;
    gort::detail::safepoint();
    now = internal::nanotime();
  }
  return now - start;
}

void background_scavenge() {
  // Its stack never holds a heap pointer.
  sched::current_g()->holds_no_roots = true;
  for (;;) {
    const int64_t worked = scavenge_round();
    if (worked > 0 && excess() > 0) {
      sched::sleep_ns(worked * kSleepRatio, "GC scavenge wait");
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

size_t scavenge_now(size_t bytes) { return Heap::get().scavenge(bytes); }

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
