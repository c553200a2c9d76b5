// Stopping the world (Go's stopTheWorldWithSema / startTheWorldWithSema,
// and preemptM's signal).
//
// stop_the_world() returns once no P but the caller's runs a goroutine:
//  - idle Ps are taken out of the idle list;
//  - a P whose M is inside gort::blocking is taken from it (the M finds it
//    gone when the call returns and waits);
//  - a running goroutine is asked to stop at its next safe point, and if it
//    has not within 100 us (a loop that never reaches one), its thread gets
//    SIGURG. The handler, on the M's alternate signal stack, parks the thread
//    right there with all its registers saved in the signal context
//    (M::signal_context), which is exactly what a stack scan needs, and
//    waits for start_the_world(). The goroutine itself is not switched out:
//    sched/README.md explains why gort does not preempt C++ code
//    asynchronously.
// The collector will run its pauses between the two calls.
#pragma once

#include <cstdint>

namespace gort::sched {

struct StwStats {
  int stopped_at_safepoint = 0;  // Ps whose goroutine reached a safe point
  int stopped_by_signal = 0;     // Ps whose thread was stopped by SIGURG
  int idle_or_blocking = 0;      // Ps idle or inside gort::blocking
  int64_t wait_ns = 0;           // how long stopping took
};

// Called from a goroutine. Returns what it took.
StwStats stop_the_world();
void start_the_world();

// Installs the SIGURG handler (once per process).
void install_preempt_signal();

}  // namespace gort::sched
