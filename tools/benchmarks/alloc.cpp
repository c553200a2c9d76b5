// alloc: the cost of one small collected allocation (16 bytes, pointer-free),
// collections included, as Go's new(T) in its twin.
#include "common.hpp"
#include "gort/gort.hpp"

namespace bench {

namespace {

struct Pair {
  int64_t a = 0, b = 0;
};

// Where the last allocation goes, so the compiler cannot drop the loop.
Pair* volatile sink;

}  // namespace

int alloc(const Args& a) {
  const int64_t n = a.n(10000000);
  const auto r = gort::run([n] {
    const int64_t start = now_ns();
    for (int64_t i = 0; i < n; ++i) sink = gort::gc::make<Pair>();
    return std::make_pair(now_ns() - start, gort::gc::stats().num_gc);
  });
  std::printf("bench=alloc impl=gort ns_per_op=%.1f n=%lld num_gc=%llu\n", double(r.first) / double(n), (long long)n,
              (unsigned long long)r.second);
  return 0;
}

}  // namespace bench
