// Sweeping (Go's mgcsweep.go), concurrent with the program.
//
// The pause that ends marking only advances the sweep generation: every
// in-use span, filed in some central list, becomes unswept at once (see
// mcentral.hpp). From then on spans are swept one at a time, each by
// whoever takes it off its unswept list:
//   - the allocator, lazily: a P that needs a span of a class sweeps that
//     class's unswept spans until one has a free slot (Go's cacheSpan), and
//     before the heap hands out new pages it sweeps until as many pages came
//     back (Go's reclaim), so the heap does not grow while garbage waits;
//   - the background sweeper, one goroutine for the runtime's life, woken
//     after each pause to sweep what is left and parked in between (Go's
//     bgsweep);
//   - gc::collect, which returns once everything is swept, as Go's
//     runtime.GC does, and the next collection before it stops the world
//     (Go's sweep termination): marking needs every span swept, so that
//     allocation bits tell objects from garbage and mark bits start clear.
// Sweeping a span turns its mark bits into its allocation bits and clears
// them. A dead object with a destructor to run stays allocated and is
// listed; its destructor runs on a goroutine later, never inside the
// allocator or a pause, and its memory is freed by the next cycle's sweep.
//
// A sweeper cannot be stopped halfway through a span (it counts as holding
// a lock), so a span is never half swept when the world stops.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gc/span.hpp"

namespace gort::gc {

// The sweep generation (Go's mheap_.sweepgen): a span with s->sweepgen
// equal to it is swept.
uint32_t current_sweepgen();

// In the pause, after marking: every in-use span becomes unswept.
void begin_sweep_cycle();

class Central;
// The allocator's lazy sweep: sweeps up to `budget` unswept spans of
// central's class and returns the first with a free slot, for the caller's
// cache; null if none had one, or once a stop of the world is pending.
Span* sweep_for_cache(Central& central, int budget);

// Sweeps one unswept span of any class; false when none was left.
bool sweep_one();

// A new span of node's memory from the heap, swept by birth; sweeps first
// until npages pages came back to the heap, nothing is left unswept, or a
// stop of the world is pending (Go's reclaim).
Span* new_swept_span(size_t npages, int spanclass, size_t large_size, int node);

// Sweeps everything left, with a safe point between spans, and waits for
// sweeps under way elsewhere. From a goroutine.
void finish_sweep();

// Wakes the finalizer goroutine for what sweeping queued, then runs the
// destructors of dead objects that sweeping listed (from a goroutine,
// holding no lock: a destructor may allocate, lock and park),
// and waits for those another goroutine is running: on return every
// destructor listed before the call has run.
void run_due_destructors();

// Objects freed by sweeping, over all cycles.
uint64_t swept_objects_total();
// Their bytes (slot sizes): Go's MemStats counts frees in the same units
// as TotalAlloc.
uint64_t swept_bytes_total();

// Wakes the background sweeper (starting it the first time) unless it runs.
void start_background_sweeper();
// At teardown, once no goroutine runs: a background sweeper or destructor
// runner buried mid-work is gone.
void forget_buried_sweepers();

}  // namespace gort::gc
