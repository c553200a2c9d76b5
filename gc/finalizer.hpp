// Finalizers (Go's mfinal.go, and the finalizer specials of mheap.go,
// mgcmark.go's markrootSpans and mgcsweep.go).
//
// A finalizer record lives outside its object, in a list on the object's
// span (Go's s.specials), and every span that ever held one is in a
// registry, so the collector can visit all records without walking the
// heap. The records are roots:
//   - while marking, root jobs (roots.cpp) trace each record's object -
//     its fields, never the object itself, which must stay white to be
//     found unreachable - and scan its closure (what the finalizer
//     captured). A record set while marking is shaded at once, as a new
//     root range is. GODEBUG=gcfinalizers=pause scans them all in mark
//     termination instead (Go 1.5's cost, one finalizer per connection);
//   - the sweep that finds a record's object unmarked marks it (it
//     survives this cycle, and what it references was marked by the root
//     job), takes the record off its span and queues it; one system
//     goroutine runs the queue (Go's runfinq), parked while it is empty.
//     Queued records, and the one running, are roots that keep their
//     object and closure alive until the finalizer has run.
// Once run, a finalizer is gone: a resurrected object that dies again is
// freed (its destructor, if any, runs then: finalizer first, destructor
// when the memory goes).
#pragma once

#include <cstdint>

#include "gort/detail/collected.hpp"

namespace gort::gc {

class Marker;
struct Span;

struct FinalizerRecord {
  FinalizerRecord* next;  // on its span's list, or in the queue
  uintptr_t slot;         // the object's slot (its header)
  void* object;           // what the finalizer is called with
  detail::Finalizer* fn;
  // Every record is also on one list from a global, from its setting to
  // its freeing: span lists live in mapped memory, where LeakSanitizer
  // does not look, and would report the records (and closures) of objects
  // still alive at exit.
  FinalizerRecord* all_prev;
  FinalizerRecord* all_next;
};

// Root jobs over the registry: how many blocks of spans it holds now (in
// the pause that starts marking), and one block's records.
size_t finalizer_span_blocks();
void scan_finalizer_block(Marker& m, size_t block);
// The queued records and the one running: their objects and closures.
void scan_finalizer_queue(Marker& m);
// Every record and the queue (mark termination under
// GODEBUG=gcfinalizers=pause, and checkmark), world stopped.
void scan_all_finalizers(Marker& m);

// The sweep of s (which holds records): records whose object is unmarked
// are queued and their objects marked, so that this sweep keeps them.
void queue_dead_finalizers(Span* s);
// Starts the finalizer goroutine, or wakes it, if anything is queued.
void wake_finalizer_goroutine();
// At teardown, once no goroutine runs: the finalizer goroutine is gone.
void forget_buried_finalizer_goroutine();

}  // namespace gort::gc
