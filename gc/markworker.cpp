#include "gc/markworker.hpp"

#include <algorithm>
#include <atomic>

#include "gc/barrier.hpp"
#include "gc/collector.hpp"
#include "gc/marker.hpp"
#include "gc/roots.hpp"
#include "gc/workbuf.hpp"
#include "gort/detail/safepoint.hpp"
#include "runtime/internal/config.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/nanotime.hpp"
#include "sched/gcscan.hpp"
#include "sched/sched.hpp"
#include "sched/sema.hpp"
#include "sched/timer.hpp"

namespace gort::gc {

namespace {

// Scan work between a worker's safe points: short enough that a stop of
// the world never waits long for a worker.
constexpr int64_t kSliceWork = 32 << 10;
constexpr size_t kAssistQuantum = size_t(64) << 10;  // the heap's distance below which an assist marks all
constexpr int64_t kIdleWaitNs = 50'000;
// How long workers wait for goroutines that do not reach a safe point
// before mark termination scans them from their stopped registers.
constexpr int kOwedWaitRounds = 40;
// How many times in a cycle workers ask the write barriers for their grey
// objects before they leave the rest to the pause.
constexpr int kHandOverRounds = 8;

std::atomic<uint32_t> work_sema{0};
internal::Lock workers_lock;
int workers_started = 0;
int workers_wanted = 0;
int dedicated_workers = 0;
double fractional_goal = 0;  // of one P, for the last worker
std::atomic<int> next_worker_index{0};
std::atomic<int> busy_markers{0};
std::atomic<bool> terminating{false};
std::atomic<int> hand_over_rounds{0};  // this cycle's, by any worker
std::atomic<int64_t> assist_ns{0};
std::atomic<int64_t> worker_ns{0};
std::atomic<int64_t> idle_ns{0};
int64_t mark_began_ns = 0;

// One slice of marking: a root job, or up to budget bytes of grey
// objects. False when there was neither. Adds the time it took to *cpu.
bool mark_slice(int64_t budget, int64_t* cpu) {
  const int64_t start = internal::nanotime();
  busy_markers.fetch_add(1, std::memory_order_acq_rel);
  internal::add_locks_held(1);
  bool did;
  {
    Marker m(sched::current_m()->p->node);
    did = run_root_job(m) || m.drain(budget) > 0;
  }
  internal::add_locks_held(-1);
  busy_markers.fetch_sub(1, std::memory_order_acq_rel);
  *cpu += internal::nanotime() - start;
  return did;
}

// The scans goroutines still owe; retried (with the stop signal held off,
// as any marking).
size_t retry_owed_scans() {
  internal::add_locks_held(1);
  size_t owed;
  {
    Marker m(sched::current_m()->p->node);
    if (!sched::gcscan.rescan_after_run) owed = retry_deferred_goroutines(m);
    else if (internal::knobs().gcrescan_pause) owed = 0;  // all of them in the pause, as Go 1.6
    else owed = drain_rescan_list(m);
  }
  internal::add_locks_held(-1);
  return owed;
}

// What Go 1.7 called "short": mark termination rescans this many stacks.
size_t short_rescan_list() { return size_t(4 * sched::sched.gomaxprocs); }

bool ready_to_terminate(size_t owed, int idle_rounds) {
  if (!root_jobs_done() || workbufs::any_full() || busy_markers.load(std::memory_order_acquire) != 0) return false;
  const bool owed_done = sched::gcscan.rescan_after_run ? owed <= short_rescan_list() : owed == 0;
  if (!owed_done && idle_rounds < kOwedWaitRounds) return false;
  // The barriers' grey objects, and all they reach, would otherwise be
  // blackened inside the pause (GCBench: 40-175 us of it). A P that does
  // not answer (in a blocking call, say) leaves them to the pause after a
  // few rounds.
  if (hand_over_rounds < kHandOverRounds && !barrier_work_handed_over()) {
    ++hand_over_rounds;
    return false;
  }
  // Checked again after the barriers: a P hands its work over before it
  // says it holds none, so what it handed over while we looked is in the
  // shared lists now. (Checked only before, gcpause's early cycles drained
  // up to 3.4 ms of marking inside the pause.)
  return busy_markers.load(std::memory_order_acquire) == 0 && !workbufs::any_full();
}

// Go's accounting of a worker's time: a dedicated worker's is background
// marking; the fractional one's is background when goroutines waited for
// its P (it took the time from them, within its fraction), and idle marking
// when none did (the P had nothing else to do: Go's idle worker), which
// gctrace shows apart and GCCPUFraction leaves out.
void count_worker_time(bool dedicated, bool p_was_idle, int64_t slice, int64_t* background) {
  if (dedicated || !p_was_idle) {
    worker_ns.fetch_add(slice, std::memory_order_relaxed);
    *background += slice;
  } else {
    idle_ns.fetch_add(slice, std::memory_order_relaxed);
  }
}

void mark_worker() {
  sched::G* self = sched::current_g();
  self->holds_no_roots = true;  // its stack holds only work blocks and stale addresses
  const int index = next_worker_index.fetch_add(1, std::memory_order_relaxed);
  for (;;) {
    sched::semacquire(&work_sema, false, "GC worker (idle)");
    const uint32_t cycle = sched::gcscan.cycle.load(std::memory_order_acquire);
    const bool dedicated = index < dedicated_workers;
    int64_t background = 0;  // time taken from goroutines waiting for the worker's P
    const int64_t began = mark_began_ns;
    int idle_rounds = 0;
    auto marking = [&] {
      return sched::gcscan.marking.load(std::memory_order_acquire) &&
             sched::gcscan.cycle.load(std::memory_order_acquire) == cycle &&
             !terminating.load(std::memory_order_acquire);
    };
    while (marking()) {
      const bool p_was_idle = !sched::work_waiting(sched::current_m()->p);
      int64_t slice = 0;
      const bool did = mark_slice(kSliceWork, &slice);
      count_worker_time(dedicated, p_was_idle, slice, &background);
      if (!did) {
        const size_t owed = retry_owed_scans();
        if (ready_to_terminate(owed, idle_rounds)) {
          if (!terminating.exchange(true, std::memory_order_acq_rel)) finish_marking();
          break;
        }
        ++idle_rounds;
        sched::sleep_ns(kIdleWaitNs, "GC worker (idle)");
        continue;
      }
      idle_rounds = 0;
      // Past its fraction of the time since marking began, the fractional
      // worker lets goroutines waiting for its P go first and comes back
      // when they have run; with none waiting it marks on (Go's idle
      // marking). Sleeping there instead left the P idle and the marking
      // to the allocating goroutines' assists (GCBench: GCCPUFraction 0.08
      // where Go's is 0.045).
      if (!dedicated && double(background) > fractional_goal * double(internal::nanotime() - began) &&
          sched::work_waiting(sched::current_m()->p))
        sched::yield();
      else
        gort::detail::safepoint();
    }
  }
}

}  // namespace

void prepare_mark_workers(int gomaxprocs) {
  const double goal = 0.25 * gomaxprocs;
  dedicated_workers = int(goal);
  fractional_goal = goal - dedicated_workers;
  workers_wanted = dedicated_workers + (fractional_goal > 0 ? 1 : 0);
  terminating.store(false, std::memory_order_relaxed);
  hand_over_rounds.store(0, std::memory_order_relaxed);
  assist_ns.store(0, std::memory_order_relaxed);
  worker_ns.store(0, std::memory_order_relaxed);
  idle_ns.store(0, std::memory_order_relaxed);
  mark_began_ns = internal::nanotime();
}

int dedicated_mark_workers() { return dedicated_workers; }
double fractional_mark_goal() { return fractional_goal; }

void wake_mark_workers() {
  {
    internal::LockGuard l(workers_lock);
    for (; workers_started < workers_wanted; ++workers_started) sched::start_system_goroutine(mark_worker);
  }
  sched::semrelease(&work_sema, uint32_t(workers_wanted), false);
}

bool mark_assist(size_t grown, size_t heap_now, size_t heap_goal, int64_t expected_scan_work) {
  if (terminating.load(std::memory_order_acquire)) return true;
  const int64_t remaining =
      std::max<int64_t>(expected_scan_work - mark_totals.scan_work.load(std::memory_order_relaxed), kSliceWork);
  // Past the goal, the assist marks everything it can find.
  const int64_t distance = int64_t(heap_goal) - int64_t(heap_now);
  int64_t budget =
      distance > int64_t(kAssistQuantum) ? int64_t(double(grown) * double(remaining) / double(distance)) : remaining;
  while (budget > 0 && sched::gcscan.marking.load(std::memory_order_acquire)) {
    int64_t cpu = 0;
    const int64_t before = mark_totals.scan_work.load(std::memory_order_relaxed);
    const bool did = mark_slice(std::min(budget, kSliceWork), &cpu);
    assist_ns.fetch_add(cpu, std::memory_order_relaxed);
    if (!did) return distance > 0;  // nothing to mark: only past the goal is the debt left unpaid
    budget -= std::max<int64_t>(mark_totals.scan_work.load(std::memory_order_relaxed) - before, kSliceWork / 4);
    gort::detail::safepoint();  // a slice gives way to a stop of the world: stop for it here
  }
  return true;
}

int64_t assist_cpu_ns() { return assist_ns.load(std::memory_order_relaxed); }
int64_t worker_cpu_ns() { return worker_ns.load(std::memory_order_relaxed); }
int64_t idle_mark_cpu_ns() { return idle_ns.load(std::memory_order_relaxed); }

void forget_buried_mark_workers() {
  workers_started = 0;
  next_worker_index.store(0, std::memory_order_relaxed);
  work_sema.store(0, std::memory_order_relaxed);
  busy_markers.store(0, std::memory_order_relaxed);
  terminating.store(false, std::memory_order_relaxed);
}

}  // namespace gort::gc
