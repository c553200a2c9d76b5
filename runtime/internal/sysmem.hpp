// The one place that asks the kernel for address space (Go's sysReserve in
// mem_linux.go). Heap arenas, stack chunks and G records are reserved here
// with MAP_NORESERVE: the kernel commits a page when it is first touched,
// so a reservation costs address space, not memory.
#pragma once

#include <cstddef>

namespace gort::internal {

// Reserves bytes of zeroed, readable and writable address space. Running
// out of address space is fatal (what names the user, e.g. "the heap").
void* reserve(size_t bytes, const char* what);

}  // namespace gort::internal

namespace gort::internal {

// Maps bytes of zeroed memory, committed as it is touched; never malloc.
// What the runtime needs while the world is stopped comes from here: a
// thread stopped by signal may hold malloc's locks.
void* map_memory(size_t bytes, const char* what);
// The same, committed at once: for memory about to be written at such a
// rate that a page fault per 4 KiB would cost more than the writes.
void* map_memory_now(size_t bytes, const char* what);
void unmap_memory(void* p, size_t bytes);
// Bytes mapped by the two above and not unmapped: the runtime's own
// records (span records with their bitmaps, work lists, counters, trace
// buffers), which a memory limit must count as Go counts its GCSys and
// OtherSys.
size_t mapped_memory_bytes();
// Gives the pages of [p, p + bytes) back to the kernel (Go's sysUnused):
// the range stays mapped and reads as zero, committed again as it is
// touched. Page-aligned.
void release_memory(void* p, size_t bytes);

}  // namespace gort::internal
