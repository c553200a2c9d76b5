// Goroutine dumps (Go's traceback.go: goroutineheader, tracebackothers):
// every goroutine's id, state, what it waits for and for how long, and its
// stack, walked along the frame pointers (gort builds with them).
#pragma once

#include <cstdio>

#include "sched/g.hpp"

namespace gort::sched {

// What a goroutine is doing, as Go's header prints it: its wait reason
// while parked, else runnable / running / syscall; null for a free record.
const char* goroutine_state(const G* g);

// Prints every goroutine to out, the caller's first. The world is stopped
// only while the goroutines and their return addresses are noted; naming
// the addresses (which allocates and starts addr2line) and printing happen
// after it has restarted. Called off a goroutine (a foreign thread, inside
// gort::blocking), it starts one to do the work and waits for it; with no
// runtime running it prints nothing.
void dump_goroutines(std::FILE* out);

// The running goroutine alone, from the caller's frame up (an unrecovered
// panic). The world keeps running: only this goroutine's stack is read.
void dump_current_goroutine(std::FILE* out);

}  // namespace gort::sched
