// The write barrier and shading (Go's mbarrier.go), on while the collector
// marks beside the program.
//
// Two barriers, chosen per cycle by GODEBUG=gcbarrier:
//  - hybrid (the default, Go 1.8's, proposal 17503): a gc::ref store
//    shades the pointer it overwrites (Yuasa's deletion barrier) and the
//    one it writes (Dijkstra's insertion barrier). Stacks need no barrier
//    and are scanned once each: a stack scanned black stays black.
//  - dijkstra (Go 1.5-1.7): a store shades only the pointer it writes.
//    Stacks have no barrier, so a goroutine that runs after its scan may
//    hide a pointer the collector has not seen: its stack is grey again and
//    rescanned (sched/gcscan.hpp, roots.hpp).
// Either way, what moves between places the collector scans only once -
// a value through a channel, a new goroutine's closure, a new root range -
// is shaded as it moves (shade_words), and objects are allocated black.
#pragma once

#include <cstddef>

namespace gort::sched {
struct P;
}

namespace gort::gc {

// Per cycle, with the world stopped.
void set_barrier_mode(bool hybrid);
bool barrier_is_hybrid();

// Greys what each word of [base, base + size) points to (a no-op unless
// marking).
void shade_words(const void* base, size_t size);

// Before mark termination (Go's ragged flush in gcMarkDone): true when no
// P's barrier holds grey objects; otherwise hands over those of idle Ps and
// asks each running P that holds some to hand them to the shared lists at
// its next barrier or safe point, where the mark workers blacken them
// beside the program instead of in the pause.
bool barrier_work_handed_over();
// The safe point's side of that request (Hooks::hand_over_gc_work), on p's
// own M.
void hand_over_gc_work(sched::P* p);

// Mark termination, world stopped: every P's barrier work goes to the
// shared lists.
void flush_barrier_markers();
// p is going away with the runtime.
void release_barrier_marker(sched::P* p);

}  // namespace gort::gc
