// Roots and stack scans (Go's markroot, scanstack and the _Gscan protocol of
// mgcmark.go), for concurrent marking and for the pauses around it.
//
// Concurrent roots are jobs that mark workers claim one at a time (Go's
// markroot jobs): the registered root ranges (gc::root, Select cases,
// after_func closures), the buffers of channels, the stack of the thread in
// gort::run, the finalizer records and queue (finalizer.hpp), and the
// goroutines, in blocks of the G arena as it was when
// marking began (goroutines born since are black: sched/gcscan.hpp).
//
// A goroutine's stack and closure are scanned together while it is not
// running and cannot start (try_claim_stack). One found running is asked
// to scan itself at its next safe point (hybrid barrier) or put on the
// rescan list (Dijkstra barrier); until then it waits on the deferred list.
// Mark termination, with the world stopped, scans what is still owed:
// goroutines whose threads were stopped by signal (a loop without safe
// points, gort::blocking) from their saved registers, the deferred and
// rescan lists, and the stack of the thread in gort::run again (goroutines
// may write to it without a barrier). That is O(threads + what is left on
// the lists), not O(goroutines) - unless GODEBUG=gcrescan=pause, which
// walks every goroutine in the pause, as Go 1.5 and 1.6 did.
//
// A parked stack found holding four times the pages it uses is shrunk
// while still claimed from its scan (Go 1.7 moved shrinking out of the
// pause; GODEBUG=gcshrinkstack=pause puts it back, gcshrinkstackoff=1
// turns it off).
#pragma once

#include <cstddef>
#include <cstdint>

namespace gort::sched {
struct G;
}

namespace gort::gc {

class Marker;

// With the world stopped, before marking starts: sets up this cycle's jobs.
void prepare_root_jobs();
// Claims and runs one root job; false when every job has been claimed.
bool run_root_job(Marker& m);
// Every job claimed has finished.
bool root_jobs_done();

// Tries the goroutines that were running when their job came by; returns
// how many are still owed a scan.
size_t retry_deferred_goroutines(Marker& m);
// Dijkstra mode: rescans goroutines that ran since their scan, leaving
// those running now on the list; returns the list's length after.
size_t drain_rescan_list(Marker& m);

// The running goroutine g scans its own stack (at a safe point, asked by
// request_stack_scan): from the caller's frames up.
void scan_own_stack(sched::G* g);

// Mark termination, world stopped: every scan still owed.
void scan_owed_in_pause(Marker& m);
// Just before mark termination stops the world: brings what its scan of
// the runner's stack reads into this CPU's cache (cold, that scan alone
// took 2 us of a 12 us pause, for 180 unchanged words).
void warm_up_runner_stack();
// How many goroutine records the last mark termination looked at: what
// makes that pause grow with goroutines, or not.
size_t goroutines_seen_in_pause();

// Stacks whose unused pages were given back (stack/shrink.hpp) since the
// process began: while scanned beside the program, and in mark termination
// (GODEBUG=gcshrinkstack=pause).
struct StackShrinks {
  uint64_t beside_program = 0;
  uint64_t in_pause = 0;
};
StackShrinks stack_shrinks();

// Checkmark (checkmark.hpp), world stopped: every root, all at once; root
// ranges and channel buffers as precise sources, stacks as conservative.
void mark_all_roots_stopped(Marker& m);

// A new root range while marking: shaded at once, as Go's write barrier
// shades a pointer stored into a global.
void shade_new_root_range(const void* base, size_t size);

}  // namespace gort::gc
