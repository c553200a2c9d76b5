// The scheduler's side of the collector's concurrent stack scans (Go's
// _Gscan status bit, gcscandone, and Go 1.7's list of stacks to rescan).
//
// While the collector marks beside the program, a goroutine's stack is
// scanned at most while it is not running, and it must not start running
// while a scan reads it. Both sides touch two words in a fixed order, with
// sequentially consistent atomics (Dekker's pattern):
//   scanner:   scan_lock = 1; if status == kRunning { scan_lock = 0; give up }
//   scheduler: status = kRunning; wait while scan_lock == 1
// Whichever writes first, the other sees it, so a stack is never scanned
// while it runs. The scheduler pays for this only while marking is on
// (GcScanState::marking), which changes only with the world stopped.
//
// A goroutine that runs could not be scanned by a mark worker: it is asked
// to scan its own stack at its next safe point (request_stack_scan), or is
// scanned in mark termination from the registers its thread was stopped
// with. In Dijkstra mode stacks have no write barrier, so a scanned stack
// that runs again is grey once more: the scheduler puts it on the rescan
// list as it starts it (rescan_after_run).
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/internal/raw_vector.hpp"
#include "sched/g.hpp"

namespace gort::sched {

struct P;

struct GcScanState {
  // Set and cleared only with the world stopped: every M sees it changed
  // before it runs another goroutine.
  std::atomic<bool> marking{false};
  // The marking cycle: a stack is scanned (black) this cycle when its
  // G::gcscan_cycle equals it.
  std::atomic<uint32_t> cycle{0};
  // Dijkstra's barrier leaves stacks unbarriered: running again makes a
  // stack grey.
  bool rescan_after_run = false;
};
extern GcScanState gcscan;

// Go's castogscanstatus: true once g cannot start running until
// release_stack; false if it runs now (or another scanner holds it).
bool try_claim_stack(G* g);
void release_stack(G* g);

inline bool stack_scanned(const G* g) {
  return g->gcscan_cycle.load(std::memory_order_acquire) == gcscan.cycle.load(std::memory_order_relaxed);
}
inline void set_stack_scanned(G* g) {
  g->gcscan_cycle.store(gcscan.cycle.load(std::memory_order_relaxed), std::memory_order_release);
}

// The scheduler, about to run g while marking is on.
void before_run_while_marking(G* g);

// Asks a running g to scan its own stack at its next safe point (through
// Hooks::scan_own_stack). Ignored if g is not running.
void request_stack_scan(G* g);

// Asks p's M to hand its write barrier's grey objects (P::gcw) to the
// shared lists at its next safe point, through Hooks::hand_over_gc_work,
// unless its next barrier does it first. Go's gcMarkDone asks every P the
// same with forEachP.
void request_gc_work_hand_over(P* p);
// Clears p's request; true when there was one (the taker hands over).
bool take_gc_work_hand_over(P* p);
// Calls fn(p) for every P in the idle list, under sched.lock: no M can take
// one of them meanwhile.
void for_each_idle_p(void (*fn)(P* p));

// Dijkstra mode's rescan list: goroutines that ran since their stack was
// scanned. push is lock-free; take_rescan_list empties the list.
void push_rescan(G* g);
// Moves the list into out; each G is off the list again (and may be pushed
// anew as soon as it runs).
void take_rescan_list(internal::RawVector<G*>* out);
size_t rescan_list_length();

}  // namespace gort::sched
