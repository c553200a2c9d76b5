// gcpause: how long the collector stops the program while many goroutines
// are parked ("the Twitch curve"). A live tree of M MiB, G goroutines each
// holding a 15-node tree only on its own stack and parked on one channel,
// then S seconds in which one goroutine per P allocates 31-node trees and
// drops them. Figures: the pauses of the cycles that ran in those S
// seconds, at most the last 256 of them (the ring gc::stats keeps, as Go's
// MemStats.PauseNs), as percentiles; then every tree is checked.
// Its Go twin is tools/go/bench/gcpause.go.
#include <algorithm>
#include <atomic>
#include <limits>
#include <vector>

#include "common.hpp"
#include "gort/gort.hpp"

namespace bench {

namespace {

namespace gc = gort::gc;

// Two pointers and an int64: 24 bytes, as the Go twin's node, so both
// programs hold the same number of nodes for a given M.
struct Node {
  gc::ref<Node> left, right;
  int64_t value = 0;
  void trace(gc::Visitor& v) const {
    v(left);
    v(right);
  }
};
static_assert(sizeof(Node) == 24);

// A balanced tree of n nodes valued next+1 .. next+n, so its sum is known.
Node* build(int64_t n, int64_t& next) {
  if (n == 0) return nullptr;
  Node* node = gc::make<Node>();
  node->value = ++next;
  const int64_t left = (n - 1) / 2;
  node->left = build(left, next);
  node->right = build(n - 1 - left, next);
  return node;
}

int64_t sum(const Node* node) { return node ? node->value + sum(node->left.get()) + sum(node->right.get()) : 0; }

int64_t expected_sum(int64_t n, int64_t base) { return n * base + n * (n + 1) / 2; }

constexpr int64_t kParkedTreeNodes = 15;  // depth 3
constexpr int64_t kChurnTreeNodes = 31;   // depth 4

struct Result {
  uint64_t gcs;
  std::vector<uint64_t> pauses;
  size_t heap_live;
  double gc_cpu_fraction;  // since the program started, as Go's MemStats
  int64_t bad;
};

}  // namespace

int gcpause(const Args& a) {
  const int64_t goroutines = a.at(0, 100000);
  const int64_t live_mb = a.at(1, 32);
  const int64_t seconds = a.at(2, 5);
  Result r = gort::run([goroutines, live_mb, seconds] {
    const int64_t live_nodes = live_mb * (int64_t(1) << 20) / int64_t(sizeof(Node));
    int64_t next = 0;
    Node* live = build(live_nodes, next);
    progress("gcpause: live tree of %lld MiB built", (long long)live_mb);

    std::atomic<int64_t> bad{0};
    auto gate = gort::make_chan<int>();
    gort::WaitGroup parked, finished;
    parked.add(int32_t(goroutines));
    finished.add(int32_t(goroutines));
    for (int64_t i = 0; i < goroutines; ++i) {
      gort::go([&, i] {
        int64_t base = i * kParkedTreeNodes;
        Node* tree = build(kParkedTreeNodes, base);
        parked.done();
        gate.recv();
        if (sum(tree) != expected_sum(kParkedTreeNodes, i * kParkedTreeNodes)) bad.fetch_add(1);
        finished.done();
      });
    }
    parked.wait();
    progress("gcpause: %lld goroutines parked, each holding a tree", (long long)goroutines);
    gc::collect();
    const gc::Stats before = gc::stats();

    const int churners = gort::gomaxprocs();
    const int64_t deadline = now_ns() + seconds * 1000000000;
    gort::WaitGroup churned;
    churned.add(churners);
    for (int c = 0; c < churners; ++c) {
      gort::go([&] {
        int64_t garbage = 0;
        while (now_ns() < deadline) build(kChurnTreeNodes, garbage);
        churned.done();
      });
    }
    // A counter once a second through a long window; asleep in between,
    // the main goroutine is one more parked stack to scan.
    for (int64_t second = 1; now_ns() + 1000000000 < deadline; ++second) {
      gort::sleep(std::chrono::seconds(1));
      progress("gcpause: churn %lld/%lld s, %llu cycles", (long long)second, (long long)seconds,
               (unsigned long long)(gc::stats().num_gc - before.num_gc));
    }
    churned.wait();
    const gc::Stats after = gc::stats();
    gc::MemStats mem;
    gc::read_mem_stats(&mem);

    gate.close();
    finished.wait();
    if (sum(live) != expected_sum(live_nodes, 0)) bad.fetch_add(1);

    return Result{after.num_gc - before.num_gc, pauses_in_ring(after.pause_ns, before.num_gc + 1, after.num_gc),
                  before.heap_live, mem.GCCPUFraction, bad.load()};
  });
  auto pct = [&](double p) { return percentile_us(r.pauses, p); };
  if (r.bad != 0) std::fprintf(stderr, "gcpause: %lld trees found damaged\n", (long long)r.bad);
  std::printf(
      "bench=gcpause impl=gort goroutines=%lld live_mb=%lld seconds=%lld gcs=%llu pause_p50_us=%.1f "
      "pause_p99_us=%.1f pause_max_us=%.1f heap_mb=%.1f gc_cpu_fraction=%.4f bad=%lld\n",
      (long long)goroutines, (long long)live_mb, (long long)seconds, (unsigned long long)r.gcs, pct(0.50), pct(0.99),
      pct(1.0), double(r.heap_live) / double(1 << 20), r.gc_cpu_fraction, (long long)r.bad);
  return r.bad == 0 ? 0 : 1;
}

}  // namespace bench
