#include "sched/debugger.hpp"

#include <cstddef>
#include <type_traits>

#include "sched/garena.hpp"
#include "sched/m.hpp"

namespace {

using gort::sched::G;
using gort::sched::GStatus;
using gort::sched::M;

static_assert(std::is_standard_layout_v<G> && std::is_standard_layout_v<M>, "offsetof is defined on both");
static_assert(sizeof(GStatus) == 4 && uint32_t(GStatus::kIdle) == 0 && uint32_t(GStatus::kRunnable) == 1 &&
                  uint32_t(GStatus::kRunning) == 2 && uint32_t(GStatus::kWaiting) == 3 && uint32_t(GStatus::kDead) == 4,
              "the states GortDebugger documents");
static_assert(sizeof(pid_t) == 4, "M::tid as tools/gdb/gort.py reads it");

}  // namespace

extern "C" {

// Kept by the linker although nothing in the program reads it.
__attribute__((used)) GortDebugger gort_debugger = {
    1,
    0,
    0,
    gort::sched::GArena::kStride,
    offsetof(G, id),
    offsetof(G, status),
    offsetof(G, wait_reason),
    offsetof(G, waitsince),
    offsetof(G, ctx),
    offsetof(G, stack) + offsetof(gort::stack::Stack, lo),
    offsetof(G, stack) + offsetof(gort::stack::Stack, hi),
    offsetof(G, m),
    offsetof(M, tid),
    gort::stack::kSavedFpOffset,
    gort::stack::kSavedPcOffset,
    gort::stack::kSavedPcOffset + sizeof(uintptr_t),
};
}

namespace gort::sched {

void publish_allg(const void* base, const void* count) {
  gort_debugger.allg_base = reinterpret_cast<uintptr_t>(base);
  gort_debugger.allg_count = reinterpret_cast<uintptr_t>(count);
}

}  // namespace gort::sched
