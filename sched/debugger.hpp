// What a debugger needs to find goroutines in a process without debug
// information (tools/gdb/gort.py reads it; Go's runtime-gdb.py reads
// runtime.allgs through DWARF instead, which a release build of gort lacks).
//
// One C symbol, gort_debugger, holds plain 64-bit words: the layout of a G
// record and of a saved context, and where the G records lie. Its fields
// only grow, at the end; `version` counts the changes.
#pragma once

#include <cstdint>

extern "C" {

struct GortDebugger {
  uint64_t version;
  // The G records: allg_base + i * g_stride for i < *allg_count.
  uint64_t allg_base;
  uint64_t allg_count;  // address of a size_t
  uint64_t g_stride;
  // Offsets in a G.
  uint64_t g_id;           // uint64_t
  uint64_t g_status;       // uint32_t: 0 idle, 1 runnable, 2 running, 3 waiting, 4 dead
  uint64_t g_wait_reason;  // const char*
  uint64_t g_waitsince;    // int64_t, CLOCK_MONOTONIC ns
  uint64_t g_ctx;          // saved context, null while running
  uint64_t g_stack_lo;
  uint64_t g_stack_hi;
  uint64_t g_m;    // M*, while running
  uint64_t m_tid;  // offset in an M: its thread id (pid_t)
  // A saved context: the frame pointer and pc at these offsets, and the
  // stack pointer, once the switch returns, at ctx + ctx_size.
  uint64_t ctx_fp;
  uint64_t ctx_pc;
  uint64_t ctx_size;
};

extern GortDebugger gort_debugger;
}

namespace gort::sched {

// Called by GArena once its records have a place.
void publish_allg(const void* base, const void* count);

}  // namespace gort::sched
