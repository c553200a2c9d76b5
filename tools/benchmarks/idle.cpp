// idle: what a parked goroutine costs (RSS growth per goroutine) and how
// fast a million of them can be parked. `idle` parks them on a channel
// receive, `idlewg` on a WaitGroup.
#include <atomic>

#include "common.hpp"
#include "gort/gort.hpp"

namespace bench {

namespace {

struct Figures {
  double bytes_per_goroutine;
  double park_s;
  double release_s;
};

template <class Park, class Release>
Figures measure(const char* name, int64_t n, Park park, Release release) {
  gort::WaitGroup parked, finished;
  parked.add(int32_t(n));
  finished.add(int32_t(n));
  const int64_t rss0 = rss_bytes();
  const int64_t t0 = now_ns();
  for (int64_t i = 0; i < n; ++i)
    gort::go([&] {
      parked.done();
      park();
      finished.done();
    });
  parked.wait();
  const int64_t t1 = now_ns();
  const int64_t rss1 = rss_bytes();
  progress("%s: %lld goroutines parked; releasing them", name, (long long)n);
  release();
  finished.wait();
  const int64_t t2 = now_ns();
  return {double(rss1 - rss0) / double(n), double(t1 - t0) / 1e9, double(t2 - t1) / 1e9};
}

void print(const char* name, int64_t n, const Figures& f) {
  std::printf("bench=%s impl=gort bytes_per_goroutine=%.0f park_s=%.3f release_s=%.3f n=%lld\n", name,
              f.bytes_per_goroutine, f.park_s, f.release_s, (long long)n);
}

}  // namespace

int idle(const Args& a) {
  const int64_t n = a.n(1000000);
  const Figures f = gort::run([n] {
    auto gate = gort::make_chan<int>();
    return measure(
        "idle", n, [&] { gate.recv(); }, [&] { gate.close(); });
  });
  print("idle", n, f);
  return 0;
}

int idlewg(const Args& a) {
  const int64_t n = a.n(1000000);
  const Figures f = gort::run([n] {
    gort::WaitGroup gate;
    gate.add(1);
    return measure(
        "idlewg", n, [&] { gate.wait(); }, [&] { gate.done(); });
  });
  print("idlewg", n, f);
  return 0;
}

}  // namespace bench
