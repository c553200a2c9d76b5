// NUMA: the machine's nodes, their CPUs and distances (from libnuma), and
// the one place that asks the kernel to put memory on a node (mbind) or to
// keep the whole process on one (set_mempolicy and sched_setaffinity, what
// `numactl --cpunodebind=N --membind=N` does). Go has no counterpart: its
// runtime ignores NUMA, which is how Twitch's chat servers met the kernel
// migrating pages under the collector's pause.
//
// Stacks (stack/), the scheduler (sched/) and the heap (gc/) all place
// things by node, so the topology sits here, at the bottom. It is decided
// once per process from the knobs:
//   GORTNUMA=off     one node, whatever the machine has: no placement
//   GORTNUMA=on      every node the process may run on (the default where
//                    there are several; with one, the same as off)
//   GORTNUMA=bind:N  one node, node N, and the whole process bound to its
//                    CPUs and memory when the runtime starts
//   GORTNUMA_FAKE=K  split the CPUs into K virtual nodes (for machines with
//                    one node): every placement path runs; the kernel is
//                    asked for the real node under each virtual one
// Nodes are numbered 0..nodes-1 here; `kernel_node` is the kernel's number.
#pragma once

#include <sched.h>

#include <cstddef>
#include <cstdint>

namespace gort::internal::numa {

inline constexpr int kMaxNodes = 16;

enum class Mode { kOff, kOn, kBind };
// How placed memory is bound: MPOL_PREFERRED falls back to other nodes when
// the node is full; MPOL_BIND would rather fail the page fault.
enum class Policy { kPreferred, kBind };

struct Node {
  int kernel_node = 0;
  cpu_set_t cpus;
};

struct Topology {
  Mode mode = Mode::kOff;
  Policy policy = Policy::kPreferred;
  bool pin = false;   // Ms are pinned to the CPUs of their P's node
  bool fake = false;  // nodes are GORTNUMA_FAKE's virtual ones
  int nodes = 1;
  Node node[kMaxNodes];
  // The kernel's node distances (10: local), as `numactl --hardware` prints.
  uint8_t distance[kMaxNodes][kMaxNodes] = {};

  // Several nodes to place things on.
  bool aware() const { return nodes > 1; }
};

// Decided at the first call, once per process.
const Topology& topology();

// Puts [addr, addr + len) on node's memory (mbind with the topology's
// policy) before it is touched. Nothing to do with a single node.
void place(void* addr, size_t len, int node);

// GORTNUMA=bind:N: binds the calling thread, and every thread it creates
// from now on, to node 0's (that is N's) CPUs and memory. undo_bind puts
// back what the thread had before.
void bind_thread();
void undo_bind();

// Pins the calling thread to node's CPUs.
void pin_thread(int node);

// What place() asked the kernel, kept for tests and metrics: the last
// kPlacementLog calls, the oldest overwritten.
struct Placement {
  uintptr_t addr = 0;
  size_t len = 0;
  int node = 0;                   // gort's node
  unsigned long kernel_mask = 0;  // the nodemask given to mbind
  int mode = 0;                   // MPOL_PREFERRED or MPOL_BIND
};
inline constexpr size_t kPlacementLog = 256;
// Copies up to max of the logged calls, oldest first; returns how many.
size_t placements(Placement* out, size_t max);

// Pages the kernel's NUMA balancing moved between nodes, machine-wide
// (/proc/vmstat numa_pages_migrated); -1 where the kernel does not count.
int64_t pages_migrated();

}  // namespace gort::internal::numa
