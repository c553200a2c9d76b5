// The execution trace (Go's runtime/trace package and `go tool trace`):
// what the scheduler and the collector did, written as Chrome trace-event
// JSON that Perfetto (ui.perfetto.dev) and chrome://tracing open.
//
//   gort::trace::start("out.json");
//   ... // goroutines run, block, wake, collections happen
//   gort::trace::stop();  // writes out.json
//
// or, for a whole gort::run, GORTTRACE=out.json in the environment.
//
// Tracks: process 1 has one thread per P (the goroutines it ran, with
// creations, wake-ups with arrows to where the woken one ran, steals),
// process 2 one per M (the P it held, its blocking calls, its sleeps),
// process 3 the collector (cycles, stop-the-world pauses, mark, sweep, the
// heap counter), process 4 what happened outside any M (sysmon taking a P
// from a long blocking call, goroutines started from plain threads).
//
// Events are kept in memory until stop() (32 bytes each; a channel
// hand-off records about three), and the file is written then.
#pragma once

#include <cstdio>

namespace gort::trace {

// Starts recording; the trace goes to path (created or truncated now) at
// stop(). Call it from a goroutine, or while no gort::run is running (the
// trace then starts with the next one); from a thread outside the runtime
// while it runs, start and stop are fatal errors (they must stop the world). False, recording nothing new, if a
// trace is being recorded already or path cannot be opened.
bool start(const char* path);
// The same, writing to out at stop(), which leaves it open.
bool start(std::FILE* out);

// Stops recording and writes the trace. Call it from a goroutine, or after
// gort::run has returned (a trace may span several gort::runs). False if no
// trace was being recorded, if the runtime is shutting down under the
// calling goroutine (call it again after gort::run returns), or if writing
// failed.
bool stop();

// Is a trace being recorded?
bool active();

}  // namespace gort::trace
