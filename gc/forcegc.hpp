// The periodic collection (Go's forcegc: sysmon's gcTriggerTime test and
// forcegchelper, proc.go).
//
// A program that stops allocating never reaches its trigger again: its
// garbage stays, finalizers waiting on it never run, and the scavenger,
// woken by cycles, never hands the idle pages back. So, as in Go, once a
// cycle has run, sysmon starts another whenever none has ended for two
// minutes (unless GOGC=off). sysmon runs without a P and cannot run a cycle
// itself: it readies a parked system goroutine that starts one and goes
// back to sleep. Such a cycle counts in NumGC, not in NumForcedGC, which
// Go keeps for runtime.GC.
//
// GORTFORCEGCPERIOD=<ms> shortens the period (Go changes forcegcperiod in
// its tests the same way).
#pragma once

#include <cstdint>

namespace gort::gc {

// sysmon's round (sched::Hooks::periodic_gc): readies the helper when a
// cycle is due at `now`. Returns how long until the next one could be due,
// for sysmon's sleep while every P idles, or 0 while none can be (no cycle
// ran yet, or GOGC=off).
int64_t periodic_gc(int64_t now);

// A cycle ended: from then on the period runs. Starts the helper on first
// use.
void note_cycle_end_for_periodic_gc(int64_t now);

// The runtime went away with the helper buried: the next run starts its
// own (sched::Hooks::release_p).
void forget_buried_periodic_gc_helper();

}  // namespace gort::gc
