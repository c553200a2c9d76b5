// deepidle: goroutines that recursed 64 KiB deep once and then parked, the
// shape Twitch measured when Go's stack shrinking still ran in the pause.
// Prints RSS with them parked, after one collection and after three (Go
// halves a stack per cycle; gort gives back all it can in one), and the
// longest pause of those cycles. GODEBUG=gcshrinkstack=pause or
// gcshrinkstackoff=1 shows the other two ways (stack/README.md).
#include "common.hpp"
#include "gort/gort.hpp"

namespace bench {

namespace {

constexpr int kDepthKiB = 64;

// One KiB of frame per level, all of it live at the bottom (no tail call).
__attribute__((noinline)) int64_t recurse(int depth) {
  volatile char frame[1024];
  for (size_t i = 0; i < sizeof frame; i += 64) frame[i] = char(depth);
  if (depth == 0) return frame[0];
  return recurse(depth - 1) + frame[512];
}

double mib(int64_t bytes) { return double(bytes) / (1024.0 * 1024.0); }

}  // namespace

int deepidle(const Args& a) {
  const int64_t n = a.n(100000);
  gort::run([n] {
    auto gate = gort::make_chan<int>();
    gort::WaitGroup parked, finished;
    parked.add(int32_t(n));
    finished.add(int32_t(n));
    const int64_t rss0 = rss_bytes();
    for (int64_t i = 0; i < n; ++i)
      gort::go([&] {
        recurse(kDepthKiB);
        parked.done();
        gate.recv();
        finished.done();
      });
    parked.wait();
    gort::sleep(std::chrono::milliseconds(100));  // the last ones reach gate.recv()
    const int64_t parked_rss = rss_bytes();
    progress("deepidle: %lld goroutines parked after recursing %d KiB; collecting", (long long)n, kDepthKiB);
    const uint64_t first = gort::gc::stats().num_gc + 1;
    gort::gc::collect();
    const int64_t after1 = rss_bytes();
    gort::gc::collect();
    gort::gc::collect();
    const int64_t after3 = rss_bytes();
    const auto s = gort::gc::stats();
    const auto pauses = pauses_in_ring(s.pause_ns, first, s.num_gc);
    std::printf(
        "bench=deepidle impl=gort n=%lld parked_kb_per_g=%.1f after1_kb_per_g=%.1f after3_kb_per_g=%.1f "
        "parked_mb=%.1f after1_mb=%.1f after3_mb=%.1f pause_max_us=%.1f\n",
        (long long)n, double(parked_rss - rss0) / 1024.0 / double(n), double(after1 - rss0) / 1024.0 / double(n),
        double(after3 - rss0) / 1024.0 / double(n), mib(parked_rss), mib(after1), mib(after3),
        percentile_us(pauses, 1.0));
    gate.close();
    finished.wait();
  });
  return 0;
}

}  // namespace bench
