// The execution trace as Chrome trace-event JSON (the "traceEvents" object
// format that Perfetto and chrome://tracing read; `go tool trace` plays
// this part for Go, reading Go's binary format).
#pragma once

#include <cstdint>
#include <cstdio>

#include "sched/trace.hpp"

namespace gort::trace {

// Writes every event in the chunk list to out. Timestamps are microseconds
// since the recording began (clock converts), nanoseconds as fractions. Each track's
// events are put back in the order they happened (their sequence numbers),
// and its slices are balanced: an end without a begin (a slice that began
// before the trace did) is left out, a begin without an end (one still
// open when it stopped) ends where the trace does; otherData counts both.
// False if writing failed.
bool write_chrome_json(std::FILE* out, const sched::trace::Chunk* chunks, sched::trace::Clock clock);

}  // namespace gort::trace
