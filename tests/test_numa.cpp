// NUMA placement (runtime/internal/numa.hpp, sched/placement.hpp, the
// per-node stack pools and heap regions). The topology is decided once per
// process, so every case runs a child of this binary with its knobs; the
// development machines have one node, so GORTNUMA_FAKE splits their CPUs
// into virtual nodes, which drive every placement path while the kernel is
// asked for the real node 0 under each. What the children check is what
// the kernel says (sched_getaffinity, get_mempolicy on the very pages) and
// where the runtime put things (the addresses of stacks and heap objects).
#include <numaif.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gc/mheap.hpp"
#include "gort/gort.hpp"
#include "runtime/internal/numa.hpp"
#include "sched/placement.hpp"
#include "sched/sched.hpp"
#include "stack/space.hpp"
#include "support.hpp"

namespace gc = gort::gc;
namespace numa = gort::internal::numa;

namespace {

// ---- what the children check --------------------------------------------

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

// Called from goroutines on many threads at once, so no Catch assertion
// here (Catch is not thread-safe): an empty set fails the comparisons.
cpu_set_t thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) CPU_ZERO(&set);
  return set;
}

cpu_set_t process_cpus_at_start() {
  static const cpu_set_t at_start = thread_cpus();
  return at_start;
}

int current_node() { return gort::sched::current_m()->p->node; }

// The kernel's policy for the page holding addr.
void page_policy(const void* addr, int* mode, unsigned long* mask) {
  *mask = 0;
  REQUIRE(get_mempolicy(mode, mask, sizeof *mask * 8, const_cast<void*>(addr), MPOL_F_ADDR) == 0);
}

// The logged placement covering addr, if any.
bool placement_of(uintptr_t addr, numa::Placement* found) {
  numa::Placement log[numa::kPlacementLog];
  const size_t n = numa::placements(log, numa::kPlacementLog);
  for (size_t i = n; i-- > 0;) {
    if (addr >= log[i].addr && addr < log[i].addr + log[i].len) {
      *found = log[i];
      return true;
    }
  }
  return false;
}

struct Node {
  gc::ref<Node> left, right;
  int value = 0;
  explicit Node(int v) : value(v) {}
  void trace(gc::Visitor& v) const {
    v(left);
    v(right);
  }
};

Node* tree(int depth, int& counter) {
  Node* n = gc::make<Node>(counter++);
  if (depth > 0) {
    n->left = tree(depth - 1, counter);
    n->right = tree(depth - 1, counter);
  }
  return n;
}

long sum(const Node* n) { return n ? n->value + sum(n->left.get()) + sum(n->right.get()) : 0; }

// Where a goroutine found itself: its P's node when it started, its
// stack's node, and a heap object it made while on one node.
struct Sample {
  int node = -1;
  int stack_node = -1;
  const void* stack = nullptr;
  Node* object = nullptr;
  int object_node = -1;  // -1: it changed P while allocating
};

// Where a goroutine starts: its P's node and its stack (taken when it
// first ran, from that P's cache).
void record_start(Sample& s) {
  volatile char here = 0;
  s.node = current_node();
  s.stack = const_cast<const char*>(&here);
  s.stack_node = gort::stack::Space::get().node_of(gort::sched::current_g()->stack);
}

void record_object(Sample& s, int value) {
  const int before = current_node();
  Node* object = gc::make<Node>(value);
  if (current_node() == before) s.object_node = before;
  s.object = object;
}

// Many goroutines, each recording where it landed, yielding between the
// two records so that work spreads (by stealing, at its own pace).
std::vector<Sample> sample_goroutines(int n) {
  std::vector<Sample> samples(static_cast<size_t>(n));
  gort::WaitGroup wg;
  for (int i = 0; i < n; ++i) {
    wg.add(1);
    gort::go([&samples, &wg, i] {
      record_start(samples[size_t(i)]);
      for (int k = 0; k < 20; ++k) gort::yield();
      record_object(samples[size_t(i)], i);
      wg.done();
    });
  }
  wg.wait();
  return samples;
}

// One goroutine on every P at once: each holds its P, with no safe point,
// until all have arrived, so every P (and so every node) is sampled.
std::vector<Sample> sample_every_p(int procs) {
  std::vector<Sample> samples(static_cast<size_t>(procs));
  std::atomic<int> arrived{0};
  gort::WaitGroup wg;
  for (int i = 0; i < procs; ++i) {
    wg.add(1);
    gort::go([&samples, &arrived, &wg, procs, i] {
      record_start(samples[size_t(i)]);
      arrived.fetch_add(1);
      while (arrived.load() < procs) std::this_thread::yield();
      record_object(samples[size_t(i)], i);
      wg.done();
    });
  }
  wg.wait();
  return samples;
}

}  // namespace

TEST_CASE("numa child", "[.child]") {
  if (!gort_test::in_child()) return;
  const std::string check = std::getenv("NUMA_CHECK");
  const cpu_set_t all_cpus = process_cpus_at_start();
  gort::Config cfg;
  cfg.gomaxprocs = env_int("PROCS", 2);
  const int procs = cfg.gomaxprocs;
  const numa::Topology& t = numa::topology();

  if (check == "topology") {
    // GORTNUMA_FAKE=K over the CPUs this process may use: contiguous runs
    // of equal size, or with more nodes than CPUs one CPU each, dealt
    // round-robin; always the real node 0 underneath on these machines.
    const int k = env_int("GORTNUMA_FAKE", 1);
    int cpu[CPU_SETSIZE];
    int ncpu = 0;
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &all_cpus)) cpu[ncpu++] = c;
    REQUIRE(t.mode == numa::Mode::kOn);
    REQUIRE(t.fake);
    REQUIRE(t.nodes == k);
    cpu_set_t seen;
    CPU_ZERO(&seen);
    for (int i = 0; i < k; ++i) {
      cpu_set_t want;
      CPU_ZERO(&want);
      if (k > ncpu) CPU_SET(cpu[i % ncpu], &want);
      else
        for (int j = i * ncpu / k; j < (i + 1) * ncpu / k; ++j) CPU_SET(cpu[j], &want);
      INFO("node " << i);
      REQUIRE(CPU_EQUAL(&want, &t.node[i].cpus));
      REQUIRE(t.node[i].kernel_node == 0);
      CPU_OR(&seen, &seen, &t.node[i].cpus);
      for (int j = 0; j < k; ++j) REQUIRE(int(t.distance[i][j]) == (i == j ? 10 : 20));
    }
    REQUIRE(CPU_EQUAL(&seen, &all_cpus));
    // P i belongs to node i * nodes / procs: contiguous runs, every node
    // used when there are at least as many Ps as nodes.
    const gort::NumaStats s = gort::run([] { return gort::numa_stats(); }, cfg);
    REQUIRE(std::string(s.mode) == "on");
    REQUIRE(s.nodes == k);
    REQUIRE(s.node_of_p.size() == size_t(procs));
    for (int i = 0; i < procs; ++i) REQUIRE(s.node_of_p[size_t(i)] == i * k / procs);
    return;
  }

  if (check == "steal order") {
    gort::run(
        [&] {
          using gort::sched::P;
          for (P* self : gort::sched::sched.allp) {
            for (uint64_t seed = 1; seed <= 200; ++seed) {
              gort::sched::FastRand rand{seed * 0x9e3779b97f4a7c15ULL};
              std::vector<P*> order;
              gort::sched::for_each_victim_nearest_first(self, rand, [&](P* victim) {
                order.push_back(victim);
                return false;
              });
              // Every other P once, every P of self's node before any other.
              REQUIRE(order.size() == size_t(procs - 1));
              REQUIRE(std::set<P*>(order.begin(), order.end()).size() == order.size());
              REQUIRE(std::find(order.begin(), order.end(), self) == order.end());
              bool remote_seen = false;
              for (P* victim : order) {
                if (victim->node != self->node) remote_seen = true;
                else REQUIRE_FALSE(remote_seen);
              }
            }
            // A thief that stops at its first victim picks among its own
            // node's Ps, each in turn: a random start, not always the same.
            std::set<P*> firsts;
            for (uint64_t seed = 1; seed <= 200; ++seed) {
              gort::sched::FastRand rand{seed * 0x9e3779b97f4a7c15ULL};
              gort::sched::for_each_victim_nearest_first(self, rand, [&](P* victim) {
                firsts.insert(victim);
                return true;
              });
            }
            size_t local_peers = 0;
            for (P* p : gort::sched::sched.allp) local_peers += p != self && p->node == self->node;
            REQUIRE(firsts.size() == (local_peers > 0 ? local_peers : size_t(procs - 1)));
            for (P* p : firsts) REQUIRE((local_peers == 0 || p->node == self->node));
          }
          // Spread work, then: a thief's steal counts as local only from a
          // P of its own node, of which one-P nodes have none.
          std::vector<Sample> samples = sample_goroutines(2000);
          const gort::NumaStats s = gort::numa_stats();
          bool lone = true;
          for (int i = 1; i < procs; ++i) lone = lone && s.node_of_p[size_t(i)] != s.node_of_p[size_t(i - 1)];
          if (lone) REQUIRE(s.steals_local == 0);
          if (s.nodes == 1) REQUIRE(s.steals_remote == 0);
        },
        cfg);
    return;
  }

  if (check == "pinning") {
    // Every M running a P sits on the CPUs of that P's node (or, with
    // GORTNUMAPIN=0, wherever the process may run).
    const bool pin = env_int("GORTNUMAPIN", 1) == 1;
    std::atomic<int> checked{0}, wrong{0};
    gort::run(
        [&] {
          gort::WaitGroup wg;
          for (int i = 0; i < 200; ++i) {
            wg.add(1);
            gort::go([&] {
              for (int k = 0; k < 20; ++k) {
                const cpu_set_t want = pin ? t.node[current_node()].cpus : all_cpus;
                const cpu_set_t have = thread_cpus();
                checked.fetch_add(1);
                if (!CPU_EQUAL(&want, &have)) wrong.fetch_add(1);
                gort::yield();
              }
              wg.done();
            });
          }
          wg.wait();
        },
        cfg);
    REQUIRE(checked.load() == 200 * 20);
    REQUIRE(wrong.load() == 0);
    return;
  }

  if (check == "memory") {
    // A goroutine's stack and its heap objects are memory of its P's node,
    // asked of the kernel with that node's mask (node 0 underneath), with
    // the policy GORTNUMAMEM names.
    const bool aware = t.aware();
    const int want_mode = !aware ? MPOL_DEFAULT : env_int("MEM_BIND", 0) ? MPOL_BIND : MPOL_PREFERRED;
    std::vector<Sample> samples;
    gort::NumaStats stats;
    gort::run(
        [&] {
          samples = sample_goroutines(1000);
          for (int round = 0; round < 5; ++round) {
            const std::vector<Sample> every_p = sample_every_p(procs);
            samples.insert(samples.end(), every_p.begin(), every_p.end());
          }
          std::set<int> nodes_seen;
          for (const Sample& s : samples) nodes_seen.insert(s.node);
          REQUIRE(nodes_seen.size() == size_t(std::min(procs, t.nodes)));
          stats = gort::numa_stats();
          for (const Sample& s : samples) {
            INFO("sample on node " << s.node);
            REQUIRE(s.stack_node == s.node);
            const auto object = reinterpret_cast<uintptr_t>(s.object);
            if (s.object_node >= 0) REQUIRE(gc::Heap::get().node_of(object) == s.object_node);
            int mode = -1;
            unsigned long mask = 0;
            page_policy(s.object, &mode, &mask);
            REQUIRE(mode == want_mode);
            if (aware) REQUIRE(mask == 1UL);  // the real node 0
            numa::Placement p;
            REQUIRE(placement_of(object, &p) == aware);
            if (aware) {
              REQUIRE(p.node == gc::Heap::get().node_of(object));
              REQUIRE(p.kernel_mask == 1UL << t.node[p.node].kernel_node);
              REQUIRE(p.mode == want_mode);
            }
          }
        },
        cfg);
    // Stacks: the kernel's policy of the pages of each slot (the slots
    // stay reserved and keep their policy after the run).
    for (const Sample& s : samples) {
      int mode = -1;
      unsigned long mask = 0;
      page_policy(s.stack, &mode, &mask);
      REQUIRE(mode == want_mode);
      if (aware) REQUIRE(mask == 1UL);
      numa::Placement p;
      REQUIRE(placement_of(reinterpret_cast<uintptr_t>(s.stack), &p) == aware);
      if (aware) REQUIRE(p.node == s.stack_node);
    }
    REQUIRE(stats.spans_local > 0);
    REQUIRE(stats.spans_remote == 0);
    REQUIRE(stats.span_local_fraction == 1.0);
    return;
  }

  if (check == "bind") {
    // bind:N: every thread of the runtime on node N's CPUs, every page
    // bound to its memory (the thread's policy, as numactl --membind sets
    // it), and the caller's thread as it was once run returns.
    const int node = env_int("BIND_NODE", 0);
    const int k = env_int("GORTNUMA_FAKE", 1);
    cpu_set_t want;
    CPU_ZERO(&want);
    {
      int cpu[CPU_SETSIZE];
      int ncpu = 0;
      for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &all_cpus)) cpu[ncpu++] = c;
      if (k > ncpu) CPU_SET(cpu[node % ncpu], &want);
      else
        for (int j = node * ncpu / k; j < (node + 1) * ncpu / k; ++j) CPU_SET(cpu[j], &want);
    }
    std::atomic<int> checked{0}, wrong{0};
    const gort::NumaStats s = gort::run(
        [&] {
          gort::WaitGroup wg;
          for (int i = 0; i < 100; ++i) {
            wg.add(1);
            gort::go([&] {
              for (int r = 0; r < 10; ++r) {
                const cpu_set_t have = thread_cpus();
                int mode = -1;
                unsigned long mask = 0;
                get_mempolicy(&mode, &mask, sizeof mask * 8, nullptr, 0);
                checked.fetch_add(1);
                if (!CPU_EQUAL(&want, &have) || mode != MPOL_BIND || mask != 1UL) wrong.fetch_add(1);
                gort::yield();
              }
              wg.done();
            });
          }
          wg.wait();
          return gort::numa_stats();
        },
        cfg);
    REQUIRE(checked.load() == 1000);
    REQUIRE(wrong.load() == 0);
    REQUIRE(std::string(s.mode) == "bind");
    REQUIRE(s.nodes == 1);
    const cpu_set_t after = thread_cpus();
    REQUIRE(CPU_EQUAL(&after, &all_cpus));
    int mode = -1;
    unsigned long mask = 0;
    get_mempolicy(&mode, &mask, sizeof mask * 8, nullptr, 0);
    REQUIRE(mode == MPOL_DEFAULT);
    return;
  }

  if (check == "collector") {
    // Spans of several nodes' regions, per-node central lists and grey
    // lists: the collector still keeps exactly what is reachable.
    const long result = gort::run(
        [] {
          std::atomic<long> bad{0};
          gort::WaitGroup wg;
          for (int w = 0; w < 8; ++w) {
            wg.add(1);
            gort::go([&bad, &wg] {
              int counter = 0;
              Node* keep = tree(10, counter);
              const long want = sum(keep);
              for (int round = 0; round < 40; ++round) {
                int c = 0;
                tree(8, c);  // garbage
                if (round % 10 == 0) gc::collect();
                gort::yield();
              }
              if (sum(keep) != want) bad.fetch_add(1);
              wg.done();
            });
          }
          wg.wait();
          return bad.load();
        },
        cfg);
    REQUIRE(result == 0);
    REQUIRE(gc::stats().num_gc >= 1);
    return;
  }
  FAIL("unknown NUMA_CHECK " << check);
}

namespace {

void run_check(const std::string& check, int procs, std::map<std::string, std::string> env) {
  env["NUMA_CHECK"] = check;
  env["PROCS"] = std::to_string(procs);
  const auto r = gort_test::run_child("numa child", env);
  std::string knobs;
  for (const auto& [k, v] : env) knobs += k + "=" + v + " ";
  INFO(knobs << "\n" << r.out << r.err);
  REQUIRE(r.exit_status == 0);
}

}  // namespace

TEST_CASE("fake nodes split the CPUs and Ps are spread over them in runs", "[numa]") {
  for (int procs : gort_test::kProcCounts)
    for (const char* k : {"2", "3", "4"}) run_check("topology", procs, {{"GORTNUMA_FAKE", k}});
}

TEST_CASE("an idle P steals from its own node's Ps before remote ones", "[numa]") {
  for (int procs : gort_test::kProcCounts) {
    run_check("steal order", procs, {{"GORTNUMA_FAKE", "2"}});
    run_check("steal order", procs, {{"GORTNUMA_FAKE", "4"}});
    run_check("steal order", procs, {{"GORTNUMA", "off"}});
  }
}

TEST_CASE("an M runs pinned to the CPUs of its P's node", "[numa]") {
  for (int procs : gort_test::kProcCounts) {
    run_check("pinning", procs, {{"GORTNUMA_FAKE", "2"}});
    run_check("pinning", procs, {{"GORTNUMA_FAKE", "2"}, {"GORTNUMAPIN", "0"}});
  }
}

TEST_CASE("stacks and heap spans are memory of their P's node", "[numa]") {
  for (int procs : gort_test::kProcCounts) {
    run_check("memory", procs, {{"GORTNUMA_FAKE", "2"}});
    run_check("memory", procs, {{"GORTNUMA_FAKE", "2"}, {"GORTNUMAMEM", "bind"}, {"MEM_BIND", "1"}});
    // No awareness: no mbind at all, the pages keep the default policy.
    run_check("memory", procs, {{"GORTNUMA_FAKE", "2"}, {"GORTNUMA", "off"}});
  }
}

TEST_CASE("GORTNUMA=bind:N puts the whole runtime on node N's CPUs and memory", "[numa]") {
  for (int procs : gort_test::kProcCounts) {
    run_check("bind", procs, {{"GORTNUMA_FAKE", "2"}, {"GORTNUMA", "bind:1"}, {"BIND_NODE", "1"}});
    run_check("bind", procs, {{"GORTNUMA", "bind:0"}, {"BIND_NODE", "0"}});
  }
  const auto r =
      gort_test::run_child("numa child", {{"NUMA_CHECK", "bind"}, {"GORTNUMA_FAKE", "2"}, {"GORTNUMA", "bind:2"}});
  INFO(r.err);
  REQUIRE(r.exit_status == 2);
  REQUIRE(r.err.find("fatal error: GORTNUMA=bind:2: no such node") != std::string::npos);
}

TEST_CASE("the collector keeps what is live across nodes' heap regions", "[numa]") {
  for (int procs : gort_test::kProcCounts) run_check("collector", procs, {{"GORTNUMA_FAKE", "2"}});
}
