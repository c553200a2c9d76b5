// pingpong: two goroutines bouncing a value over two unbuffered channels;
// one round trip is two hand-offs and two parks.
#include "common.hpp"
#include "gort/gort.hpp"

namespace bench {

int pingpong(const Args& a) {
  const int64_t n = a.n(2000000);
  const int64_t ns = gort::run([n] {
    auto ping = gort::make_chan<int64_t>();
    auto pong = gort::make_chan<int64_t>();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      for (int64_t i = 0; i < n; ++i) pong.send(ping.recv() + 1);
      wg.done();
    });
    const int64_t start = now_ns();
    int64_t v = 0;
    for (int64_t i = 0; i < n; ++i) {
      ping.send(v);
      v = pong.recv();
    }
    const int64_t elapsed = now_ns() - start;
    wg.wait();
    if (v != n) std::fprintf(stderr, "pingpong: got %lld, want %lld\n", (long long)v, (long long)n);
    return elapsed;
  });
  std::printf("bench=pingpong impl=gort ns_per_op=%.1f n=%lld\n", double(ns) / double(n), (long long)n);
  return 0;
}

}  // namespace bench
