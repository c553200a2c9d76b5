// P: a processor, the right to run Go code (Go's p in runtime2.go).
//
// GOMAXPROCS Ps exist; an M must hold one to run goroutines. Everything a
// goroutine touches on its hot paths hangs off its P, so those paths take no
// lock: the local run queue, the stack cache, the heap allocation cache, the
// free G records, a batch of goroutine ids, the timer heap.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "sched/g.hpp"
#include "sched/runqueue.hpp"
#include "sched/timer.hpp"
#include "sched/trace.hpp"
#include "stack/pool.hpp"

namespace gort::gc {
class MCache;
class Marker;
}  // namespace gort::gc

namespace gort::sched {

struct M;

enum class PStatus : uint32_t {
  kIdle,     // in the idle list, or being handed over
  kRunning,  // held by an M running goroutines
  kSyscall,  // its M is in gort::blocking; sysmon may take it away
  kGcStop,   // stopped for stop_the_world
};

struct P {
  int32_t id = 0;
  int32_t node = 0;  // its NUMA node (sched/placement.hpp)
  std::atomic<PStatus> status{PStatus::kIdle};
  std::atomic<M*> m{nullptr};  // the M holding it (read by stop_the_world)
  P* link = nullptr;           // idle list
  // Set while the P is on its way to a sleeping M (startm): the thread may
  // take tens of microseconds to run, and a stop of the world need not
  // wait for it. Whoever clears it - the woken M, or the stopper - owns the P.
  std::atomic<bool> handoff{false};

  RunQueue runq;
  // Goroutines scheduled here. Written only by the owning M; sysmon reads it
  // to spot a goroutine that has run too long.
  std::atomic<uint32_t> schedtick{0};
  std::atomic<uint32_t> syscalltick{0};        // bumped by every gort::blocking
  std::atomic<G*> running{nullptr};            // the goroutine on it, for sysmon
  std::atomic<bool> stopped_in_signal{false};  // its M waits in the SIGURG handler

  // sysmon's memory of what it last saw (Go's sysmontick).
  uint32_t sysmon_schedtick = 0;
  uint32_t sysmon_syscalltick = 0;
  int64_t sysmon_schedwhen = 0;
  int64_t sysmon_syscallwhen = 0;
  std::atomic<uint64_t> executed{0};  // goroutines started or resumed here (metrics, tests)
  // Written only by the P's own M; num_goroutine() sums them without a
  // shared counter that every spawn and exit would fight over.
  std::atomic<uint64_t> spawned{0};
  std::atomic<uint64_t> exited{0};
  // Run queues stolen from, by the victim's node; written only by the
  // owning M.
  std::atomic<uint64_t> steals_local{0};
  std::atomic<uint64_t> steals_remote{0};
  // The other Ps in the order a steal tries them: own node first, then by
  // distance; victim_groups[g]..victim_groups[g+1] is the g-th group of
  // equal distance (set once at start-up by place_ps).
  std::vector<P*> victims;
  std::vector<uint32_t> victim_groups;

  stack::Cache stacks;
  // The collector's allocation cache for this P, made by gc/ on the first
  // allocation here and given back through Hooks::release_p.
  gc::MCache* mcache = nullptr;
  // The write barrier's grey objects while the collector marks (Go's
  // p.gcw), used only by the M holding the P, or by whoever holds
  // sched.lock while the P is in the idle list. Whether it holds any, for
  // the mark workers to see, and their request that it hand them over (Go's
  // ragged flush before mark termination): taken up by the next barrier or
  // safe point (gcscan.hpp).
  gc::Marker* gcw = nullptr;
  std::atomic<bool> gcw_holds_work{false};
  std::atomic<bool> gcw_hand_over{false};
  GList gfree;  // dead G records ready for reuse
  uint64_t goid_next = 0;
  uint64_t goid_end = 0;

  TimerHeap timers;

  // The execution trace's events recorded here; written only by the P's
  // holder (sched/trace.hpp).
  trace::Buf trace_buf;
  // The latest cycle-counter reading of an event on this P: the stamp of
  // unblocks, which take no reading of their own.
  int64_t trace_ticks = 0;
};

}  // namespace gort::sched
