// M: an OS thread that runs goroutines (Go's m in runtime2.go).
//
// Each M runs the scheduler loop on its own thread stack ("g0"). To run a
// goroutine it jumps onto the goroutine's stack; to block, yield or exit, the
// goroutine records why in the M and jumps back to g0, which finishes the job
// there (Go's mcall): only once the goroutine's registers are saved may
// another thread wake it, so the unlock that publishes a parked goroutine
// runs on g0.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <thread>

#include "runtime/internal/note.hpp"
#include "sched/g.hpp"
#include "stack/context.hpp"

namespace gort::sched {

struct P;

// wyrand: tiny and good enough to pick steal victims and select cases.
struct FastRand {
  uint64_t state = 0;
  uint32_t next() {
    state += 0xa0761d6478bd642fULL;
    const __uint128_t r = __uint128_t(state) * (state ^ 0xe7037ed1a0b428dbULL);
    return uint32_t(uint64_t(r >> 64) ^ uint64_t(r));
  }
};

enum class BlockingState : uint32_t {
  kNone,
  // Entering the call: counts as in it for the stop signal, but the thread
  // still writes its P, so a shutdown must not yet leave it behind (and free
  // the P, as teardown does).
  kEntering,
  kInCall,     // running the blocking function
  kReturning,  // back from it, getting a P again
  kAbandoned,  // the runtime shut down during the call: leave at once
};

enum class SwitchReason : uint32_t {
  kPark,     // blocked; unlockf publishes it to wakers
  kYield,    // back of this P's queue
  kPreempt,  // ran too long: back of the global queue
  kNoP,      // returned from a blocking call to find its P taken
  kExit,
  kAbandon,  // the runtime shut down under it: never resumed, stack not freed
};

struct M {
  int32_t id = 0;
  std::thread thread;
  // Set by the thread itself before it takes a P, so that a stopper never
  // signals a thread handle that is not assigned yet.
  std::atomic<pthread_t> pthread{};
  std::atomic<pid_t> tid{0};

  // Sends the stop signal (SIGURG) to this M's thread, if it has started.
  void signal_stop() const;

  stack::Context g0ctx = nullptr;  // where a goroutine jumps to reach g0
  G* curg = nullptr;
  P* p = nullptr;
  P* nextp = nullptr;             // handed over by whoever woke this M
  G* next_from_switch = nullptr;  // taken from the run queue by a switch, for g0 to start
  bool spinning = false;
  // Where the M stands with gort::blocking; read by stop_the_world and by
  // teardown on other threads. kReturning lasts from the end of the call
  // until the goroutine has a P again or is switched out.
  std::atomic<BlockingState> blocking{BlockingState::kNone};
  // The goroutine in the call (curg, but published for teardown, which must
  // know whose stack an abandoned thread stands on).
  std::atomic<G*> blocking_g{nullptr};
  bool in_blocking_call() const { return blocking.load(std::memory_order_acquire) != BlockingState::kNone; }
  // While this thread waits in the stop signal's handler: the ucontext_t
  // holding the interrupted goroutine's registers (what a stack scan needs).
  // Set by the handler, cleared by start_the_world.
  std::atomic<void*> signal_context{nullptr};
  // Where the stopped goroutine's live stack starts when the handler runs on
  // that stack itself (ThreadSanitizer's late delivery); 0 otherwise.
  std::atomic<uintptr_t> signal_scan_from{0};
  // Then too the handler's frame pointer, where a goroutine dump starts its
  // walk: the copied context's registers point at frames since returned.
  std::atomic<uintptr_t> signal_fp{0};
  // This M's alternate signal stack: where the kernel saved the vector
  // registers of a signal-stopped goroutine.
  uintptr_t altstack_lo = 0;
  uintptr_t altstack_hi = 0;
  bool stopping_world = false;  // this M runs stop_the_world: never stop it by signal
  // The runtime this M served shut down while it was inside a blocking call
  // or a loop without safe points; it must never touch the runtime again
  // (see teardown in proc.cpp).
  std::atomic<bool> abandoned{false};
  std::atomic<bool> exited{false};  // left its scheduler loop: may be joined
  internal::Note park;
  M* link = nullptr;  // idle list
  FastRand rand;
  int32_t node = -1;  // the NUMA node its thread is pinned to; -1: none
  uint32_t trace_seq = 0;  // the order of this M's trace events (sched/trace.hpp)

  // Set by a goroutine before it jumps to g0.
  SwitchReason reason = SwitchReason::kPark;
  bool (*unlockf)(G*, void*) = nullptr;
  void* unlockarg = nullptr;

  void* tsan_g0_fiber = nullptr;

  // AddressSanitizer's view of g0's stack, learned on the first switch.
  void* g0_fake_stack = nullptr;
  const void* g0_stack_bottom = nullptr;
  size_t g0_stack_size = 0;
};

}  // namespace gort::sched
