#include "runtime/internal/numa.hpp"

#include <fcntl.h>
#include <numa.h>
#include <numaif.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "runtime/internal/config.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/log.hpp"

namespace gort::internal::numa {

namespace {

constexpr uint8_t kLocalDistance = 10;   // ACPI SLIT's value for a node to itself
constexpr uint8_t kRemoteDistance = 20;  // and what fake nodes use for any other

cpu_set_t affinity() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) == 0) CPU_SET(0, &set);
  return set;
}

int kernel_node_of_cpu(int cpu) {
  const int n = numa_available() < 0 ? 0 : numa_node_of_cpu(cpu);
  return n < 0 ? 0 : n;
}

int first_cpu(const cpu_set_t& set) {
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) return c;
  return 0;
}

// The kernel's nodes that hold CPUs this process may run on.
void read_kernel_nodes(Topology& t, const cpu_set_t& allowed) {
  t.nodes = 0;
  if (numa_available() < 0) {
    t.node[0].kernel_node = 0;
    t.node[0].cpus = allowed;
    t.nodes = 1;
    return;
  }
  bitmask* cpus = numa_allocate_cpumask();
  // Node masks here are one word (mask_of): kernel nodes 0..63.
  const int max_node = std::min(numa_max_node(), 63);
  for (int k = 0; k <= max_node; ++k) {
    if (numa_node_to_cpus(k, cpus) != 0) continue;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (unsigned c = 0; c < cpus->size && c < CPU_SETSIZE; ++c)
      if (numa_bitmask_isbitset(cpus, c) && CPU_ISSET(c, &allowed)) CPU_SET(c, &set);
    if (CPU_COUNT(&set) == 0) continue;
    if (t.nodes == kMaxNodes) {
      log().warn("gort: NUMA: more than {} nodes; placing on the first {} only", kMaxNodes, kMaxNodes);
      break;
    }
    t.node[t.nodes].kernel_node = k;
    t.node[t.nodes].cpus = set;
    ++t.nodes;
  }
  numa_free_cpumask(cpus);
  if (t.nodes == 0) {
    t.node[0].kernel_node = 0;
    t.node[0].cpus = allowed;
    t.nodes = 1;
  }
  for (int a = 0; a < t.nodes; ++a)
    for (int b = 0; b < t.nodes; ++b) {
      const int d = numa_distance(t.node[a].kernel_node, t.node[b].kernel_node);
      t.distance[a][b] = uint8_t(d > 0 ? d : a == b ? kLocalDistance : kRemoteDistance);
    }
}

// GORTNUMA_FAKE=K: the allowed CPUs, in order, cut into K contiguous runs
// of equal size (node i: CPUs [i*n/K, (i+1)*n/K)). With more nodes than
// CPUs every node gets one CPU, dealt round-robin, so nodes share CPUs.
// Each virtual node's memory is the kernel node of its first CPU.
void make_fake_nodes(Topology& t, const cpu_set_t& allowed, int k) {
  int cpu[CPU_SETSIZE];
  int n = 0;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &allowed)) cpu[n++] = c;
  t.nodes = k;
  for (int i = 0; i < k; ++i) {
    Node& node = t.node[i];
    CPU_ZERO(&node.cpus);
    if (k > n) {
      CPU_SET(cpu[i % n], &node.cpus);
    } else {
      for (int j = i * n / k; j < (i + 1) * n / k; ++j) CPU_SET(cpu[j], &node.cpus);
    }
    node.kernel_node = kernel_node_of_cpu(first_cpu(node.cpus));
    for (int b = 0; b < k; ++b) t.distance[i][b] = i == b ? kLocalDistance : kRemoteDistance;
  }
}

Topology discover() {
  const Knobs& k = knobs();
  Topology t;
  const cpu_set_t allowed = affinity();
  if (k.numa_fake > 0) {
    t.fake = true;
    make_fake_nodes(t, allowed, k.numa_fake);
  } else {
    read_kernel_nodes(t, allowed);
  }
  t.policy = k.numa_mem_bind ? Policy::kBind : Policy::kPreferred;
  switch (k.numa) {
    case Knobs::Numa::kOff:
      t.mode = Mode::kOff;
      break;
    case Knobs::Numa::kBind: {
      if (k.numa_bind_node >= t.nodes)
        fatal("GORTNUMA=bind:", k.numa_bind_node, ": no such node (this process may run on nodes 0..", t.nodes - 1,
              ")");
      t.mode = Mode::kBind;
      t.node[0] = t.node[k.numa_bind_node];
      break;
    }
    default:
      t.mode = t.nodes > 1 ? Mode::kOn : Mode::kOff;
  }
  if (t.mode != Mode::kOn) {
    // One node: everything is local. (Under bind:N it is node N.)
    if (t.mode == Mode::kOff) {
      t.node[0].cpus = allowed;
      t.node[0].kernel_node = kernel_node_of_cpu(first_cpu(allowed));
    }
    t.nodes = 1;
    t.distance[0][0] = kLocalDistance;
  }
  t.pin = t.mode == Mode::kOn && k.numa_pin;
  return t;
}

unsigned long mask_of(int kernel_node) { return 1UL << kernel_node; }

Lock placement_lock;
Placement placement_log[kPlacementLog];
size_t placement_count = 0;

void record(const Placement& p) {
  LockGuard l(placement_lock);
  placement_log[placement_count++ % kPlacementLog] = p;
}

struct SavedBinding {
  bool saved = false;
  cpu_set_t cpus;
  int mode = MPOL_DEFAULT;
  unsigned long mask = 0;
};
SavedBinding saved_binding;

}  // namespace

const Topology& topology() {
  static const Topology t = [] {
    Topology found = discover();
    if (found.mode == Mode::kOn)
      log().info("gort: NUMA: {} {}nodes, threads {}pinned, memory {}", found.nodes, found.fake ? "fake " : "",
                 found.pin ? "" : "not ", found.policy == Policy::kBind ? "bound" : "preferred");
    return found;
  }();
  return t;
}

void place(void* addr, size_t len, int node) {
  const Topology& t = topology();
  if (!t.aware()) return;
  Placement p;
  p.addr = reinterpret_cast<uintptr_t>(addr);
  p.len = len;
  p.node = node;
  p.kernel_mask = mask_of(t.node[node].kernel_node);
  p.mode = t.policy == Policy::kBind ? MPOL_BIND : MPOL_PREFERRED;
  // Only the policy of untouched pages is set: nothing moves (no
  // MPOL_MF_MOVE), so this costs no page copy and no TLB shoot-down.
  if (mbind(addr, len, p.mode, &p.kernel_mask, sizeof p.kernel_mask * 8, 0) != 0)
    fatal("runtime: mbind of ", len, " bytes to NUMA node ", t.node[node].kernel_node, ": ", std::strerror(errno));
  record(p);
}

void bind_thread() {
  const Topology& t = topology();
  if (t.mode != Mode::kBind) return;
  SavedBinding& s = saved_binding;
  sched_getaffinity(0, sizeof s.cpus, &s.cpus);
  get_mempolicy(&s.mode, &s.mask, sizeof s.mask * 8, nullptr, 0);
  s.saved = true;
  unsigned long mask = mask_of(t.node[0].kernel_node);
  if (set_mempolicy(MPOL_BIND, &mask, sizeof mask * 8) != 0)
    fatal("runtime: GORTNUMA=bind: set_mempolicy: ", std::strerror(errno));
  if (sched_setaffinity(0, sizeof t.node[0].cpus, &t.node[0].cpus) != 0)
    fatal("runtime: GORTNUMA=bind: sched_setaffinity: ", std::strerror(errno));
}

void undo_bind() {
  SavedBinding& s = saved_binding;
  if (!s.saved) return;
  s.saved = false;
  set_mempolicy(s.mode, s.mode == MPOL_DEFAULT ? nullptr : &s.mask, sizeof s.mask * 8);
  sched_setaffinity(0, sizeof s.cpus, &s.cpus);
}

void pin_thread(int node) {
  const cpu_set_t& cpus = topology().node[node].cpus;
  // Failing to pin costs locality, not correctness (a cpuset may have
  // shrunk under the process): carry on where the kernel puts us.
  sched_setaffinity(0, sizeof cpus, &cpus);
}

size_t placements(Placement* out, size_t max) {
  LockGuard l(placement_lock);
  const size_t n = placement_count < kPlacementLog ? placement_count : kPlacementLog;
  const size_t first = placement_count - n;
  size_t i = 0;
  for (; i < n && i < max; ++i) out[i] = placement_log[(first + i) % kPlacementLog];
  return i;
}

int64_t pages_migrated() {
  // Read without malloc: stats may be asked for anywhere.
  const int fd = open("/proc/vmstat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[16384];
  size_t n = 0;
  for (ssize_t r; n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0;) n += size_t(r);
  close(fd);
  const std::string_view text(buf, n);
  constexpr std::string_view kKey = "\nnuma_pages_migrated ";
  const size_t at = text.find(kKey);
  if (at == std::string_view::npos) return -1;
  int64_t v = 0;
  for (size_t i = at + kKey.size(); i < n && buf[i] >= '0' && buf[i] <= '9'; ++i) v = v * 10 + (buf[i] - '0');
  return v;
}

}  // namespace gort::internal::numa
