// NUMA placement figures (GORTNUMA, see README.md's knobs): how the running
// runtime spread its Ps over the machine's nodes, how often idle Ps stole
// within their node and across nodes, how much of the heap came from the
// node that asked for it, and how many pages the kernel moved between
// nodes. Go has no counterpart: its runtime ignores NUMA.
#pragma once

#include <cstdint>
#include <vector>

namespace gort {

struct NumaStats {
  // "off", "on" or "bind" (GORTNUMA); `nodes` is 1 under off and bind.
  const char* mode = "off";
  int nodes = 1;
  bool fake = false;           // virtual nodes (GORTNUMA_FAKE)
  std::vector<int> node_of_p;  // the node of P i (empty outside gort::run)
  // Run queues stolen from, over the running runtime's Ps.
  uint64_t steals_local = 0;   // from a P of the thief's node
  uint64_t steals_remote = 0;  // from a P of another node
  // Heap spans cut from the page heap for a P, over the process's life:
  // from the region of the P's node, or borrowed from another node's.
  uint64_t spans_local = 0;
  uint64_t spans_remote = 0;
  double span_local_fraction = 1;  // spans_local / all, 1 before any span
  // Pages the kernel's NUMA balancing moved between nodes, machine-wide
  // (/proc/vmstat numa_pages_migrated: the kernel counts no finer); -1
  // where the kernel does not count them.
  int64_t pages_migrated = -1;
};
NumaStats numa_stats();

}  // namespace gort
