#include "gc/pacer.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <limits>

#include "gc/memstats.hpp"
#include "gc/mheap.hpp"
#include "gc/sweeper.hpp"
#include "runtime/internal/config.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/sysmem.hpp"
#include "stack/pool.hpp"

namespace gort::gc {

namespace {

constexpr size_t kHeapMinimum = size_t(4) << 20;  // Go's defaultHeapMinimum, at GOGC=100
constexpr double kGoalUtilization = 0.25;         // Go's gcGoalUtilization
constexpr double kMinTriggerRatio = 0.7;          // Go's minTriggerRatioNum / triggerRatioDen
constexpr double kMaxTriggerRatio = 0.95;
constexpr size_t kLimitHeadroom = size_t(1) << 20;  // Go's memoryLimitHeapGoalHeadroom
// The CPU limiter's bucket: one second of every P's time (Go's capacity).
constexpr int64_t kLimiterWindowNs = 1'000'000'000;

internal::Lock lock;
int percent = 100;
int64_t limit = std::numeric_limits<int64_t>::max();
// The last cycle's figures, and the smoothed cons/mark estimate.
CycleMeasure last;
double cons_mark = 0;
std::atomic<size_t> goal_bytes{kHeapMinimum};
std::atomic<size_t> trigger_bytes{size_t(double(kHeapMinimum) * kMinTriggerRatio)};
// The CPU limiter: collector CPU minus program CPU since the last reset,
// kept within [0, window * procs]; full means limiting.
int64_t bucket_ns = 0;
int64_t last_cycle_end_ns = 0;
std::atomic<bool> limiting{false};
std::atomic<int64_t> assist_wait_ns{0};  // since the last cycle's end

// What the runtime holds from the OS besides heap pages: the stacks'
// committed slots (StackSys) and the runtime's own records.
size_t non_heap_mapped_bytes() { return stack::Pool::get().usage().sys + internal::mapped_memory_bytes(); }

// What the runtime holds from the OS, as the limit sees it (Go's
// mappedReady): heap pages not released by the scavenger, and the rest.
size_t mapped_bytes() {
  const Heap& h = Heap::get();
  return h.bytes_in_spans() - std::min(h.bytes_in_spans(), h.bytes_released()) + non_heap_mapped_bytes();
}

size_t heap_minimum() { return percent < 0 ? kHeapMinimum : kHeapMinimum * size_t(percent) / 100; }

}  // namespace

Pacer& Pacer::get() {
  static Pacer pacer;
  return pacer;
}

Pacer::Pacer() {
  percent = internal::knobs().gogc;
  limit = internal::knobs().memory_limit;
  internal::LockGuard l(lock);
  recompute();
}

int Pacer::set_gc_percent(int p) {
  internal::LockGuard l(lock);
  const int old = percent;
  percent = p < 0 ? -1 : p;
  recompute();
  return old;
}

int Pacer::gc_percent() const {
  internal::LockGuard l(lock);
  return percent;
}

int64_t Pacer::set_memory_limit(int64_t bytes) {
  internal::LockGuard l(lock);
  const int64_t old = limit;
  if (bytes >= 0) {
    limit = bytes;
    recompute();
  }
  return old;
}

int64_t Pacer::memory_limit() const {
  internal::LockGuard l(lock);
  return limit;
}

size_t Pacer::goal() const { return goal_bytes.load(std::memory_order_relaxed); }
size_t Pacer::trigger() const { return trigger_bytes.load(std::memory_order_relaxed); }

int64_t Pacer::expected_scan_work() const {
  internal::LockGuard l(lock);
  return int64_t(std::max(last.marked + last.stack_bytes + last.global_bytes, kHeapMinimum / 4));
}

size_t Pacer::over_memory_limit() const {
  internal::LockGuard l(lock);
  if (limit == std::numeric_limits<int64_t>::max()) return 0;
  const size_t mapped = mapped_bytes();
  return mapped > size_t(limit) ? mapped - size_t(limit) : 0;
}

bool Pacer::assists_enabled() const { return !limiting.load(std::memory_order_relaxed); }

void Pacer::count_assist_wait(int64_t ns) { assist_wait_ns.fetch_add(ns, std::memory_order_relaxed); }

void Pacer::recompute() {
  const size_t marked = last.marked;
  const bool have_limit = limit != std::numeric_limits<int64_t>::max();
  size_t goal = std::numeric_limits<size_t>::max();
  if (percent >= 0) {
    const size_t scannable = marked + last.stack_bytes + last.global_bytes;
    goal = std::max(marked + scannable * size_t(percent) / 100, heap_minimum());
  }
  if (have_limit) {
    // Everything mapped that holds no heap object counts against the limit
    // (Go's nonHeapMemory = mappedReady - heapFree - heapAlloc): the
    // goroutine stacks, the runtime's records, the unused slots of spans in
    // use (fragmentation, which the goal's object bytes never see), and
    // whatever the heap has mapped beyond the limit already. Free pages not
    // yet released are not counted: the heap reuses them first.
    const size_t mapped = mapped_bytes();
    const size_t over = mapped > size_t(limit) ? mapped - size_t(limit) : 0;
    const uint64_t allocated = alloc_totals().bytes;
    const uint64_t freed = std::min(swept_bytes_total(), allocated);
    const size_t in_use = Heap::get().bytes_in_use();
    const size_t unused_slots = in_use > allocated - freed ? in_use - size_t(allocated - freed) : 0;
    const size_t non_heap = non_heap_mapped_bytes() + unused_slots + over + kLimitHeadroom;
    const size_t limit_goal = size_t(limit) > non_heap ? size_t(limit) - non_heap : 0;
    goal = std::min(goal, std::max(limit_goal, marked));
  }
  if (goal == std::numeric_limits<size_t>::max()) {  // GOGC=off and no limit: never
    goal_bytes.store(goal, std::memory_order_relaxed);
    trigger_bytes.store(goal, std::memory_order_relaxed);
    return;
  }
  size_t trigger = goal;
  if (marked < goal) {
    const double room = double(goal - marked);
    const size_t min_trigger = marked + size_t(room * kMinTriggerRatio);
    size_t max_trigger = marked + size_t(room * kMaxTriggerRatio);
    if (goal > kHeapMinimum && goal - kHeapMinimum > max_trigger) max_trigger = goal - kHeapMinimum;
    const double expected = double(std::max(marked + last.stack_bytes + last.global_bytes, kHeapMinimum / 4));
    const double runway = cons_mark * (1 - kGoalUtilization) / kGoalUtilization * expected;
    trigger = runway >= double(goal) ? min_trigger : goal - size_t(runway);
    trigger = std::clamp(trigger, min_trigger, std::max(min_trigger, max_trigger));
  }
  goal_bytes.store(goal, std::memory_order_relaxed);
  trigger_bytes.store(trigger, std::memory_order_relaxed);
}

void Pacer::end_cycle(const CycleMeasure& m) {
  internal::LockGuard l(lock);
  // Go's endCycle: what cons/mark would have made this cycle end on target.
  if (m.mark_wall_ns > 0 && m.scan_work > 0 && m.heap_at_mark_end > m.heap_at_trigger) {
    const double utilization =
        std::clamp(double(m.mark_cpu_ns) / (double(m.mark_wall_ns) * m.procs), 0.01, 0.99);
    const double current = double(m.heap_at_mark_end - m.heap_at_trigger) * utilization /
                           (double(m.scan_work) * (1 - utilization));
    cons_mark = cons_mark == 0 ? current : (cons_mark + current) / 2;
    if (internal::knobs().gcpacertrace > 0) {
      std::fprintf(stderr, "pacer: %d%% CPU (%d exp.) for %lld B work (%zu B exp.) in %zu B -> %zu B (∆goal %lld, cons/mark %g)\n",
                   int(utilization * 100), int(kGoalUtilization * 100), static_cast<long long>(m.scan_work),
                   last.marked + last.stack_bytes + last.global_bytes, m.heap_at_trigger, m.heap_at_mark_end,
                   static_cast<long long>(int64_t(m.heap_at_mark_end) - int64_t(goal_bytes.load())), cons_mark);
    }
  }
  // The CPU limiter, over the time since the last cycle ended; it only
  // matters under a memory limit (without one, GOGC's goal grows with the
  // live heap and cannot demand cycles back to back), and there only it
  // runs, so that a loaded machine's long pauses do not switch assists off.
  const int64_t now = internal::nanotime();
  if (limit == std::numeric_limits<int64_t>::max()) {
    bucket_ns = 0;
    limiting.store(false, std::memory_order_relaxed);
  } else if (last_cycle_end_ns != 0) {
    const int64_t total = (now - last_cycle_end_ns) * m.procs;
    const int64_t collector = m.mark_cpu_ns + m.pause_ns * m.procs + assist_wait_ns.exchange(0);
    bucket_ns = std::clamp<int64_t>(bucket_ns + collector - (total - collector), 0, kLimiterWindowNs * m.procs);
    limiting.store(bucket_ns >= kLimiterWindowNs * m.procs, std::memory_order_relaxed);
  }
  last_cycle_end_ns = now;
  last = m;
  recompute();
}

void Pacer::trace_start(size_t heap_live, int dedicated_workers, double fractional_goal) const {
  if (internal::knobs().gcpacertrace <= 0) return;
  const size_t goal = goal_bytes.load(std::memory_order_relaxed);
  const double distance = goal > heap_live ? double(goal - heap_live) : 1.0;
  std::fprintf(stderr, "pacer: assist ratio=%g (scan %zu MB in %zu->%zu MB) workers=%d+%g\n",
               double(expected_scan_work()) / distance, size_t(expected_scan_work()) >> 20, heap_live >> 20,
               goal >> 20, dedicated_workers, fractional_goal);
}

}  // namespace gort::gc
