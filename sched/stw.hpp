// Stopping the world (Go's stopTheWorldWithSema / startTheWorldWithSema,
// and preemptM's signal).
//
// stop_the_world() returns once no goroutine but the caller runs:
//  - idle Ps are taken out of the idle list;
//  - a P whose M is inside gort::blocking is taken from it (the M finds it
//    gone when the call returns and waits);
//  - a running goroutine is asked to stop at its next safe point, and if it
//    has not within 100 us (a loop that never reaches one), its thread gets
//    SIGURG. The handler, on the M's alternate signal stack, parks the
//    thread right there with all its registers saved in the signal context
//    (M::signal_context), which is exactly what a stack scan needs, and
//    waits for start_the_world(). The goroutine itself is not switched out:
//    sched/README.md explains why gort does not preempt C++ code
//    asynchronously.
//  - a thread inside gort::blocking keeps running C code on its goroutine's
//    stack, where collected pointers may live in any frame or register, so
//    it is stopped by the same signal (a system call it was blocked in is
//    restarted, or returns EINTR as after any signal).
// A thread is never stopped by signal while it holds a runtime lock or is
// inside the allocator or a goroutine switch (locks_held != 0): it is
// asked again 20 us later. So whatever the stopper does in the pause, it
// never waits for a lock held by a stopped thread.
//
// start_the_world() puts every P back where it was, itself: a P stopped in
// the handler is running again before the next stop_the_world can look at
// it, whenever its thread actually wakes.
#pragma once

#include <cstdint>

namespace gort::sched {

struct M;

struct StwStats {
  bool stopped = false;          // false: the runtime is shutting down, nothing was stopped
  int stopped_at_safepoint = 0;  // Ps whose goroutine reached a safe point
  int stopped_by_signal = 0;     // Ps whose thread was stopped by SIGURG
  int idle_or_blocking = 0;      // Ps idle or inside gort::blocking
  int blocking_threads = 0;      // threads inside gort::blocking, stopped by SIGURG
  int64_t wait_ns = 0;           // how long stopping took
};

// Called from a goroutine. When the runtime starts shutting down (main has
// returned) it gives up, restarts what it stopped and returns stopped=false.
StwStats stop_the_world();
// Returns when the world was running again (internal::nanotime()): every
// stopped P back and its thread woken, before the extra spinning M that
// looks for work (Go's startTheWorldWithSema takes its time there too,
// so a pause measured to it is Go's PauseNs).
int64_t start_the_world();

// While the world is stopped: how many threads the stop left parked in the
// signal's handler (stopped by signal, or inside gort::blocking), whose
// goroutine stacks only their signal contexts describe. None, usually:
// then the pause need not walk the Ms for those contexts.
int threads_stopped_in_handler();

// Checked builds: the calling goroutine has stopped the world.
void assert_world_stopped();

// A thread the runtime leaves behind sleeps here for ever.
[[noreturn]] void park_forever(M* m);

// Installs the SIGURG handler (once per process).
void install_preempt_signal();

}  // namespace gort::sched
