// gcbench: Hans Boehm's GCBench (stretch tree of depth 18, a long-lived tree
// of depth 16 and an array of 500,000 doubles kept alive throughout, then
// top-down and bottom-up trees of depths 4 to 16 step 2), as its Go twin.
#include <algorithm>

#include "common.hpp"
#include "gort/gort.hpp"

namespace bench {

namespace {

namespace gc = gort::gc;

constexpr int kStretchTreeDepth = 18;
constexpr int kLongLivedTreeDepth = 16;
constexpr int kArraySize = 500000;
constexpr int kMinTreeDepth = 4;
constexpr int kMaxTreeDepth = 16;

struct Node {
  gc::ref<Node> left, right;
  int i = 0, j = 0;
  Node() = default;
  Node(Node* l, Node* r) : left(l), right(r) {}
  void trace(gc::Visitor& v) const {
    v(left);
    v(right);
  }
};

int tree_size(int depth) { return (1 << (depth + 1)) - 1; }
int num_iters(int depth) { return 2 * tree_size(kStretchTreeDepth) / tree_size(depth); }

void populate(int depth, Node* node) {
  if (depth <= 0) return;
  --depth;
  node->left = gc::make<Node>();
  node->right = gc::make<Node>();
  populate(depth, node->left.get());
  populate(depth, node->right.get());
}

Node* make_tree(int depth) {
  if (depth <= 0) return gc::make<Node>();
  Node* l = make_tree(depth - 1);
  Node* r = make_tree(depth - 1);
  return gc::make<Node>(l, r);
}

void time_construction(int depth) {
  const int iters = num_iters(depth);
  for (int i = 0; i < iters; ++i) populate(depth, gc::make<Node>());
  for (int i = 0; i < iters; ++i) make_tree(depth);
}

}  // namespace

int gcbench(const Args&) {
  struct Result {
    int64_t ns;
    double gc_cpu_fraction;
    bool ok;
  };
  const Result r = gort::run([] {
    const int64_t start = now_ns();
    make_tree(kStretchTreeDepth);
    Node* long_lived = gc::make<Node>();
    populate(kLongLivedTreeDepth, long_lived);
    double* array = gc::make_array<double>(kArraySize);
    for (int i = 0; i < kArraySize / 2; ++i) array[i] = 1.0 / i;
    for (int d = kMinTreeDepth; d <= kMaxTreeDepth; d += 2) time_construction(d);
    const bool ok = long_lived && array[1000] == 1.0 / 1000;
    const int64_t ns = now_ns() - start;
    gc::MemStats m;
    gc::read_mem_stats(&m);
    return Result{ns, m.GCCPUFraction, ok};
  });
  // Counted once the runtime has ended, when no cycle can end any more:
  // read inside the run, a cycle could end, and print its gctrace line,
  // after the count (tools/check-gcplot once found 120 lines for 119).
  const gc::Stats stats = gc::stats();
  if (!r.ok) std::fprintf(stderr, "gcbench: long-lived data was lost\n");
  std::printf("bench=gcbench impl=gort ms=%.0f num_gc=%llu pause_total_ms=%.1f gc_cpu_fraction=%.4f\n", double(r.ns) / 1e6,
              (unsigned long long)stats.num_gc, double(stats.total_pause_ns) / 1e6, r.gc_cpu_fraction);
  return r.ok ? 0 : 1;
}

}  // namespace bench
