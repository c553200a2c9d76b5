// spawn: the cost of starting, running and finishing a goroutine.
#include <atomic>

#include "common.hpp"
#include "gort/gort.hpp"

namespace bench {

int spawn(const Args& a) {
  const int64_t n = a.n(1000000);
  const int64_t ns = gort::run([n] {
    std::atomic<int64_t> counter{0};
    gort::WaitGroup wg;
    const int64_t start = now_ns();
    wg.add(int32_t(n));
    for (int64_t i = 0; i < n; ++i)
      gort::go([&] {
        counter.fetch_add(1, std::memory_order_relaxed);
        wg.done();
      });
    wg.wait();
    const int64_t elapsed = now_ns() - start;
    if (counter.load() != n)
      std::fprintf(stderr, "spawn: counted %lld of %lld\n", (long long)counter.load(), (long long)n);
    return elapsed;
  });
  std::printf("bench=spawn impl=gort ns_per_op=%.1f n=%lld gomaxprocs=%d\n", double(ns) / double(n), (long long)n,
              gort::run([] { return gort::gomaxprocs(); }));
  return 0;
}

}  // namespace bench
