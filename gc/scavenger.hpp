// The scavenger (Go's mgcscavenge.go): gives free heap pages back to the OS.
//
// The page heap keeps the pages of freed spans committed, ready for the
// next span (mheap.hpp). A program whose heap shrinks would keep its peak
// RSS forever; the scavenger releases what the heap is not expected to
// need again soon:
//
// - In the background: one system goroutine, woken when a cycle's sweep
//   ends, releases free pages while the retained heap (pages carved from
//   the reservation less those released: what may be resident) is more
//   than 10% over the heap goal (Go's retainedGoal; the reserve keeps a
//   heap that churns around its goal from faulting pages back in all the
//   time). It works in 64 KiB steps for rounds of 1 ms and sleeps 99 times
//   as long after each: about 1% of one CPU, Go's target. At the goal, or
//   with no committed free page left, it parks until the next cycle.
// - At once: scavenge_now (for the memory limit) and gc::free_os_memory
//   (Go's debug.FreeOSMemory: a collection, then every free page).
//
// A released page reads as zero (MADV_DONTNEED), so a span cut only from
// released pages is not cleared again; the heap's released-page bitmap
// keeps HeapReleased exact.
#pragma once

#include <cstddef>

namespace gort::gc {

// Releases up to `bytes` of free heap pages to the OS now, on the calling
// goroutine, and returns how many bytes it released (less when fewer free
// pages were committed; rounded up to whole 8 KiB pages). For the soft
// memory limit (GOMEMLIMIT): when the heap presses against the limit, the
// collector asks for what it is over and does not wait for the paced
// background release.
size_t scavenge_now(size_t bytes);

// A sweep ended: pages were freed, and the heap goal moved with the cycle
// before. Starts the background scavenger on first use.
void wake_scavenger();

// The runtime went away with the scavenger's goroutine buried: the next
// run starts its own (sched::Hooks::release_p).
void forget_buried_scavenger();

}  // namespace gort::gc
