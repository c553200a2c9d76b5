// gctune MODE: the seed's three ways of making a collector with a small
// live heap collect less often, on one workload (Twitch's "Go memory
// ballast" post, Go 1.19's memory limit, and Uber's finalizer-driven GC
// tuner). A live list of 32 MiB stays; one goroutine per P allocates 4 GiB
// in 256-byte objects that each live only while the next 1,023 are made.
// MODE:
//   none      GOGC=100: the heap goal is about twice the 32 MiB live heap,
//             so a cycle every ~32 MiB allocated
//   ballast   a 200 MiB pointer-free array kept alive and never touched: the
//             goal moves to ~464 MiB, yet the array's pages are never made
//             resident, so RSS does not pay for it
//   memlimit  no ballast: GOGC=off and a 300 MiB soft memory limit, the same
//             effect without the trick (Go 1.19)
//   tuner     a finalizer that re-arms itself every cycle and sets GOGC so
//             that the next goal lands near 300 MiB (Uber's gctuner)
// Figures: gcs, the collector's CPU fraction over the run, peak RSS (the
// kernel's VmHWM), the max and p99 pause over the last 256 cycles, and how
// much RSS allocating the ballast cost (the trick works only if it is ~0:
// the garbage the larger goal lets pile up is what RSS pays for).
// Its Go twin is tools/go/bench/gctune.go.
#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common.hpp"
#include "gort/gort.hpp"

namespace bench {

namespace {

namespace gc = gort::gc;

constexpr int64_t kMiB = int64_t(1) << 20;
constexpr int64_t kLiveBytes = 32 * kMiB;
constexpr int64_t kChurnBytes = int64_t(4) << 30;
constexpr int64_t kBallastBytes = 200 * kMiB;
constexpr int64_t kTargetBytes = 300 * kMiB;  // the memory limit, and the tuner's target heap
constexpr int kRecent = 1024;                 // what one churner keeps alive at a time

// 256 bytes with one pointer, as the Go twin's.
struct Obj {
  gc::ref<Obj> next;
  char pad[248];
  void trace(gc::Visitor& v) const { v(next); }
};
static_assert(sizeof(Obj) == 256);

// The kernel's peak resident set (VmHWM) in bytes.
int64_t peak_rss_bytes() {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  long kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
  std::fclose(f);
  return int64_t(kb) * 1024;
}

// Uber's tuner: a finalizer runs after every cycle (it re-arms itself on
// the same object), reads the live heap and sets GOGC so that the next
// goal is the target: (target / live - 1) x 100, never below GOGC=100's
// frequency.
struct Tuner {
  int64_t target;
};
void arm(Tuner* t);
void retune(Tuner* t) {
  gc::MemStats m;
  gc::read_mem_stats(&m);
  const int64_t live = std::max<int64_t>(int64_t(m.HeapAlloc), 1);
  const int64_t percent = std::max<int64_t>(100, (t->target - live) * 100 / live);
  gc::set_gc_percent(int(std::min<int64_t>(percent, 10000)));
  arm(t);
}
void arm(Tuner* t) { gc::set_finalizer(t, [](Tuner* self) { retune(self); }); }

}  // namespace

int gctune(const Args& a) {
  const std::string mode = a.rest.empty() ? "none" : a.rest[0];
  if (mode != "none" && mode != "ballast" && mode != "memlimit" && mode != "tuner") {
    std::fprintf(stderr, "gctune: MODE is none, ballast, memlimit or tuner, not %s\n", mode.c_str());
    return 2;
  }
  struct Result {
    uint64_t gcs;
    std::vector<uint64_t> pauses;
    double gc_cpu;
    double seconds;
    int64_t ballast_resident;
  };
  Result r = gort::run([&mode] {
    gc::root<Obj> live(nullptr);
    for (int64_t i = 0; i < kLiveBytes / int64_t(sizeof(Obj)); ++i) {
      Obj* o = gc::make<Obj>();
      o->next = live.get();
      live = o;
    }
    gc::root<char> ballast(nullptr);
    const int64_t rss_before_ballast = rss_bytes();
    if (mode == "ballast") ballast = gc::make_array<char>(size_t(kBallastBytes));
    const int64_t ballast_resident = rss_bytes() - rss_before_ballast;
    if (mode == "memlimit") {
      gc::set_gc_percent(-1);
      gc::set_memory_limit(kTargetBytes);
    }
    if (mode == "tuner") arm(gc::make<Tuner>(Tuner{kTargetBytes}));
    gc::collect();
    progress("gctune: %s: 32 MiB live, churning 4 GiB", mode.c_str());
    gc::MemStats before;
    gc::read_mem_stats(&before);
    const int64_t start = now_ns();
    const int churners = gort::gomaxprocs();
    gort::WaitGroup wg;
    wg.add(churners);
    for (int c = 0; c < churners; ++c) {
      gort::go([&wg, churners] {
        std::vector<Obj*> recent(kRecent, nullptr);
        gc::root<Obj> head(nullptr);  // the recent objects, chained: what the collector sees
        const int64_t n = kChurnBytes / int64_t(sizeof(Obj)) / churners;
        for (int64_t i = 0; i < n; ++i) {
          Obj* o = gc::make<Obj>();
          o->next = head.get();
          head = o;
          // Cut the chain kRecent objects back: those before are garbage.
          if (Obj* old = recent[size_t(i % kRecent)]) old->next = nullptr;
          recent[size_t(i % kRecent)] = o;
        }
        wg.done();
      });
    }
    wg.wait();
    const double seconds = double(now_ns() - start) / 1e9;
    gc::MemStats after;
    gc::read_mem_stats(&after);
    return Result{after.NumGC - before.NumGC, pauses_in_ring(after.PauseNs, before.NumGC + 1, after.NumGC),
                  after.GCCPUFraction, seconds, ballast_resident};
  });
  auto pct = [&](double p) { return percentile_us(r.pauses, p); };
  std::printf(
      "bench=gctune impl=gort mode=%s gcs=%llu gc_cpu_fraction=%.4f peak_rss_mb=%.1f pause_p99_us=%.1f "
      "pause_max_us=%.1f seconds=%.2f ballast_resident_mb=%.1f\n",
      mode.c_str(), (unsigned long long)r.gcs, r.gc_cpu, double(peak_rss_bytes()) / double(kMiB), pct(0.99),
      pct(1.0), r.seconds, double(r.ballast_resident) / double(kMiB));
  return 0;
}

}  // namespace bench
