// Grey objects between markers (Go's workbuf, runtime/mgcwork.go).
//
// Each marker - a background worker, a goroutine assisting, a P's write
// barrier - fills and empties blocks of grey object addresses of its own
// and trades only whole blocks through the global lists, one lock per
// trade: a full block for other markers to take, an empty one to fill.
// Full blocks are filed by the NUMA node whose heap holds their objects
// (marker.hpp), so a marker takes its own node's work first.
//
// Blocks come from memory mapped from the kernel and are never unmapped:
// markers run where malloc must not (a pause, a write barrier inside a
// thread that cannot be stopped by signal).
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/internal/numa.hpp"

namespace gort::gc {

struct Workbuf {
  static constexpr size_t kEntries = 510;  // a block of 4 KiB
  Workbuf* next = nullptr;
  size_t count = 0;
  uintptr_t objects[kEntries];

  bool empty() const { return count == 0; }
};

namespace workbufs {

// An empty block (never fails: maps more when none is free).
Workbuf* get_empty();
void put_empty(Workbuf* b);
// A block with grey objects of node's heap, for any marker.
void put_full(Workbuf* b, int node);
// A full block, node's first; null when there is none at all.
Workbuf* try_get_full(int node);
// Whether any full block waits (a hint, read without the lock).
bool any_full();
// Empties every full block (a cycle abandoned as the runtime ends).
void discard_all();

}  // namespace workbufs

}  // namespace gort::gc
