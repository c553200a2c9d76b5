// gc::read_mem_stats (Go's runtime.MemStats) and the scavenger (Go's
// mgcscavenge.go): the counters agree with each other and with what the
// test allocated, and free pages go back to the OS on request and on their
// own.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "gc/scavenger.hpp"
#include "gc/sizeclass.hpp"
#include "gort/gort.hpp"
#include "support.hpp"

using gort_test::kProcCounts;
using gort_test::procs;
namespace gc = gort::gc;

namespace {

struct Small {
  uint64_t words[4] = {};
};

struct Holder {
  gc::ref<gc::ref<Small>> items;
  void trace(gc::Visitor& v) const { v(items); }
};

constexpr size_t kMiB = size_t(1) << 20;

gc::MemStats mem_stats() {
  gc::MemStats m;
  gc::read_mem_stats(&m);
  return m;
}

// Allocates `chunks` MiB in 1 MiB pointer-free arrays and writes every page
// (so that it is resident); everything it allocated is garbage once it
// returns.
__attribute__((noinline)) void fill_heap(size_t chunks) {
  auto* keep = gc::make_array<gc::ref<unsigned char>>(chunks);
  for (size_t i = 0; i < chunks; ++i) {
    unsigned char* c = gc::make_array<unsigned char>(kMiB);
    std::memset(c, 0xab, kMiB);
    keep[i] = c;
  }
  asm volatile("" : : "r"(keep) : "memory");
}

// The same on a goroutine that scrubs its stack and exits: no stack the
// collector scans keeps any of it.
void build_and_drop_heap(size_t chunks) {
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&wg, chunks] {
    fill_heap(chunks);
    gort_test::scrub_stack();
    wg.done();
  });
  wg.wait();
}

}  // namespace

// Allocates a holder, its array and kObjects objects, kept by `kept` only,
// on a goroutine that leaves no pointer to them on any stack; what
// read_mem_stats said before and after.
constexpr size_t kObjects = 10000;
gc::root<Holder> kept;

std::pair<gc::MemStats, gc::MemStats> allocate_kept_objects() {
  std::pair<gc::MemStats, gc::MemStats> r;
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&wg, &r] {
    [&r]() __attribute__((noinline)) {
      r.first = mem_stats();
      auto* holder = gc::make<Holder>();
      holder->items = gc::make_array<gc::ref<Small>>(kObjects);
      for (size_t i = 0; i < kObjects; ++i) holder->items.get()[i] = gc::make<Small>();
      kept = holder;
      r.second = mem_stats();
    }
    ();
    gort_test::scrub_stack();
    wg.done();
  });
  wg.wait();
  return r;
}

namespace {

// Three pointers: 24 bytes, the size of a tree node or a list cell.
struct ThreeRefs {
  gc::ref<ThreeRefs> a, b, c;
  void trace(gc::Visitor& v) const {
    v(a);
    v(b);
    v(c);
  }
};
static_assert(sizeof(ThreeRefs) == 24);

}  // namespace

// With its one-word header a three-pointer object needs 32 bytes, Go's own
// class for it (a 16-byte header took 40, and before the 40-byte class, 48).
TEST_CASE("a three-pointer object takes a 32-byte slot", "[memstats]") {
  const uint64_t bytes = gort::run([] {
    constexpr uint64_t kCount = 1000;
    const gc::MemStats before = mem_stats();
    for (uint64_t i = 0; i < kCount; ++i) gc::make<ThreeRefs>();
    const gc::MemStats after = mem_stats();
    REQUIRE(after.Mallocs - before.Mallocs == kCount);
    return (after.TotalAlloc - before.TotalAlloc) / kCount;
  });
  REQUIRE(bytes == 32);
}

TEST_CASE("read_mem_stats counts the objects a goroutine allocates", "[memstats]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          gc::collect();
          const auto [before, after] = allocate_kept_objects();
          // The holder, its array and the objects; nothing was swept since.
          REQUIRE(after.Mallocs - before.Mallocs == kObjects + 2);
          REQUIRE(after.Frees == before.Frees);
          REQUIRE(after.HeapObjects - before.HeapObjects == kObjects + 2);
          REQUIRE(after.TotalAlloc - before.TotalAlloc >= kObjects * sizeof(Small));
          REQUIRE(after.HeapAlloc - before.HeapAlloc == after.TotalAlloc - before.TotalAlloc);
          REQUIRE(after.Alloc == after.HeapAlloc);

          // Dropped: the next collection frees them, and TotalAlloc never
          // goes back.
          kept = nullptr;
          gc::collect();
          const gc::MemStats freed = mem_stats();
          REQUIRE(freed.Frees - after.Frees >= kObjects + 2);
          REQUIRE(freed.Frees <= freed.Mallocs);
          REQUIRE(freed.HeapObjects == freed.Mallocs - freed.Frees);
          REQUIRE(freed.TotalAlloc >= after.TotalAlloc);
          REQUIRE(freed.HeapAlloc < after.HeapAlloc);
        },
        procs(n));
  }
}

// The collector's CPU time is summed over every run of the process, each
// cycle counted at the Ps its run had; GCCPUFraction divided it by the
// current run's GOMAXPROCS times the time since the process started, so a
// run at 1 P after a collection-heavy one at 8 reported more than all the
// CPU there was (1.31 seen in a loaded TSan run of the case below).
TEST_CASE("GCCPUFraction stays a fraction when GOMAXPROCS changes between runs", "[memstats]") {
  const double at_8 = gort::run(
      [] {
        gc::root<gc::ref<Small>> keep(gc::make_array<gc::ref<Small>>(20000));
        for (int i = 0; i < 20000; ++i) keep.get()[i] = gc::make<Small>();
        for (int i = 0; i < 100; ++i) gc::collect();
        return mem_stats().GCCPUFraction;
      },
      procs(8));
  // The next run adds CPU and no cycle before it reads: the fraction can
  // only have fallen (it read 8 times higher).
  const double at_1 = gort::run([] { return mem_stats().GCCPUFraction; }, procs(1));
  INFO("GCCPUFraction at the end of the 8-P run " << at_8 << ", at the start of the 1-P run " << at_1);
  REQUIRE(at_1 > 0);
  REQUIRE(at_1 <= at_8);
  REQUIRE(at_8 < 1);
}

TEST_CASE("read_mem_stats: heap, stack and cycle figures agree", "[memstats]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          gc::collect();
          auto* live = gc::make<Small>();
          gc::MemStats m;
          gc::Stats s;
          // A cycle between the two reads would move the ring: read again.
          do {
            m = mem_stats();
            s = gc::stats();
          } while (s.num_gc != m.NumGC);
          REQUIRE(m.NumGC >= 1);
          REQUIRE(m.HeapInuse + m.HeapIdle == m.HeapSys);
          REQUIRE(m.HeapReleased <= m.HeapIdle);
          REQUIRE(m.HeapInuse > 0);
          REQUIRE(m.StackInuse > 0);  // this goroutine's stack at least
          REQUIRE(m.StackSys >= m.StackInuse);
          REQUIRE(m.Sys == m.HeapSys + m.StackSys);
          REQUIRE(m.NextGC == s.next_gc);
          REQUIRE(m.PauseTotalNs == uint64_t(s.total_pause_ns));
          for (size_t i = 0; i < 256; ++i) {
            REQUIRE(m.PauseNs[i] == s.pause_ns[i]);
            REQUIRE(m.PauseEnd[i] == s.pause_end_ns[i]);
          }
          REQUIRE(m.LastGC == m.PauseEnd[(m.NumGC - 1) % 256]);
          REQUIRE(m.LastGC > 0);
          REQUIRE(m.GCCPUFraction > 0);
          REQUIRE(m.GCCPUFraction < 1);
          REQUIRE(live != nullptr);
        },
        procs(n));
  }
}

TEST_CASE("NumForcedGC counts gc::collect calls, NumGC every cycle", "[memstats]") {
  gort::run([] {
    gc::collect();
    const gc::MemStats before = mem_stats();
    // 64 MiB of garbage in 1 KiB pieces: automatic cycles at a heap goal of
    // a few MiB.
    for (int i = 0; i < 64 * 1024; ++i) gc::make_array<char>(1024);
    const gc::MemStats churned = mem_stats();
    REQUIRE(churned.NumGC > before.NumGC);
    REQUIRE(churned.NumForcedGC == before.NumForcedGC);
    for (int i = 0; i < 3; ++i) gc::collect();
    const gc::MemStats after = mem_stats();
    REQUIRE(after.NumForcedGC - churned.NumForcedGC == 3);
    REQUIRE(after.NumGC - churned.NumGC >= 3);
  });
}

namespace {

std::atomic<int> periodic_finalized{0};

// A finalizer-carrying object that is garbage once this returns, made on a
// goroutine that exits so that no stack holds it.
void drop_object_with_finalizer() {
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&wg] {
    gc::set_finalizer(gc::make<Small>(), [](Small*) { periodic_finalized.fetch_add(1); });
    wg.done();
  });
  wg.wait();
}

}  // namespace

// GORTFORCEGCPERIOD is set by the parent; the program stops allocating
// after its first cycle and only sleeps, each wait at most ROUNDS x 25 ms.
TEST_CASE("periodic collection child", "[.child]") {
  if (!gort_test::in_child()) return;
  const int rounds = std::atoi(std::getenv("ROUNDS"));
  gort::run([rounds] {
    drop_object_with_finalizer();
    gc::collect();  // the period runs from a cycle's end, as in Go
    const gc::MemStats before = mem_stats();
    // Polled rather than slept for a fixed time: a loaded machine may take
    // longer than the periods add up to.
    for (int i = 0; i < rounds && mem_stats().NumGC - before.NumGC < 3; ++i)
      gort::sleep(std::chrono::milliseconds(25));
    drop_object_with_finalizer();
    const uint32_t gcs_before_drop = mem_stats().NumGC;
    for (int i = 0; i < rounds && (periodic_finalized.load() < 2 || mem_stats().NumGC - gcs_before_drop < 2); ++i)
      gort::sleep(std::chrono::milliseconds(25));
    const gc::MemStats after = mem_stats();
    // Where the finalizer goroutine and the sweeper wait, should one not run.
    if (periodic_finalized.load() < 2) gort::dump_goroutines(stderr);
    std::printf("periodic=%u forced=%u finalized=%d\n", after.NumGC - before.NumGC,
                after.NumForcedGC - before.NumForcedGC, periodic_finalized.load());
  });
}

namespace {

// What the periodic collection child printed.
struct PeriodicRun {
  unsigned periodic = 0, forced = 0;
  int finalized = 0;
};
PeriodicRun periodic_run(const gort_test::ChildResult& r) {
  REQUIRE(r.exit_status == 0);
  PeriodicRun run;
  const size_t at = r.out.find("periodic=");
  REQUIRE(at != std::string::npos);
  REQUIRE(std::sscanf(r.out.c_str() + at, "periodic=%u forced=%u finalized=%d", &run.periodic, &run.forced,
                      &run.finalized) == 3);
  return run;
}

}  // namespace

// Go's sysmon starts a cycle when none ended for two minutes (forcegc), so
// that a program that stopped allocating still frees its garbage and runs
// its finalizers; gc::collect was not called, so none counts as forced.
TEST_CASE("sysmon collects a program that stopped allocating", "[memstats][gc]") {
  for (const int n : kProcCounts) {
    const auto r = gort_test::run_child("periodic collection child",
                                        {{"GOMAXPROCS", std::to_string(n)}, {"GORTFORCEGCPERIOD", "50"}, {"ROUNDS", "400"}});
    INFO("GOMAXPROCS " << n << "\n" << r.out << r.err);
    const PeriodicRun run = periodic_run(r);
    REQUIRE(run.periodic >= 5);
    REQUIRE(run.forced == 0);
    REQUIRE(run.finalized == 2);
  }
}

// As Go's gcTriggerTime: nothing is due without a heap goal.
TEST_CASE("no periodic collection under GOGC=off", "[memstats][gc]") {
  const auto r = gort_test::run_child("periodic collection child", {{"GOGC", "off"}, {"GORTFORCEGCPERIOD", "20"}, {"ROUNDS", "10"}});
  INFO(r.out << r.err);
  const PeriodicRun run = periodic_run(r);
  REQUIRE(run.periodic == 0);
  REQUIRE(run.forced == 0);
}

TEST_CASE("free_os_memory gives a dropped heap back to the OS", "[memstats][scavenger]") {
  constexpr size_t kChunks = 128;
  gort::run([] {
    build_and_drop_heap(kChunks);
    const int64_t rss_built = gort_test::rss_bytes();
    const gc::MemStats built = mem_stats();
    gc::free_os_memory();
    const gc::MemStats freed = mem_stats();
    const int64_t rss_freed = gort_test::rss_bytes();
    INFO("HeapInuse " << built.HeapInuse / kMiB << " -> " << freed.HeapInuse / kMiB << " HeapIdle "
                      << freed.HeapIdle / kMiB << " HeapObjects " << built.HeapObjects << " -> " << freed.HeapObjects);
    INFO("RSS " << rss_built / kMiB << " MiB -> " << rss_freed / kMiB << " MiB; HeapReleased "
                << built.HeapReleased / kMiB << " MiB -> " << freed.HeapReleased / kMiB << " MiB");
    REQUIRE(freed.HeapReleased >= built.HeapReleased + kChunks * kMiB);
    REQUIRE(freed.HeapReleased == freed.HeapIdle);  // every free page
    REQUIRE(rss_built - rss_freed >= int64_t(kChunks * kMiB / 2));
  });
}

TEST_CASE("memory reused after its release reads as zero", "[memstats][scavenger]") {
  gort::run([] {
    build_and_drop_heap(32);
    gc::free_os_memory();
    const gc::MemStats released = mem_stats();
    REQUIRE(released.HeapReleased >= 32 * kMiB);
    // Large objects and small ones cut from released pages.
    for (int i = 0; i < 32; ++i) {
      const unsigned char* c = gc::make_array<unsigned char>(kMiB);
      size_t nonzero = 0;
      for (size_t b = 0; b < kMiB; ++b) nonzero += c[b] != 0;
      REQUIRE(nonzero == 0);
    }
    for (int i = 0; i < 100000; ++i) {
      const uint64_t* w = gc::make_array<uint64_t>(8);
      for (int k = 0; k < 8; ++k) REQUIRE(w[k] == 0);
    }
    const gc::MemStats reused = mem_stats();
    REQUIRE(reused.HeapReleased < released.HeapReleased);
    REQUIRE(reused.HeapInuse + reused.HeapIdle == reused.HeapSys);
  });
}

TEST_CASE("the background scavenger releases free pages on its own", "[memstats][scavenger]") {
  constexpr size_t kChunks = 96;
  gort::run([] {
    build_and_drop_heap(kChunks);
    const gc::MemStats built = mem_stats();
    // A cycle finds the heap dead and lowers the goal; the sweep frees the
    // pages, and the scavenger, woken by the cycle's end, releases them at
    // its pace. Nothing here asks it to.
    gc::collect();
    gc::MemStats m = mem_stats();
    for (int poll = 0; poll < 600 && m.HeapReleased < built.HeapReleased + kChunks * kMiB / 2; ++poll) {
      gort::sleep(std::chrono::milliseconds(50));
      m = mem_stats();
    }
    INFO("HeapReleased " << built.HeapReleased / kMiB << " MiB -> " << m.HeapReleased / kMiB << " MiB, HeapIdle "
                         << m.HeapIdle / kMiB << " MiB, NextGC " << m.NextGC / kMiB << " MiB");
    REQUIRE(m.HeapReleased >= built.HeapReleased + kChunks * kMiB / 2);
    // It keeps a reserve: what stays committed is about the heap goal.
    REQUIRE(m.HeapSys - m.HeapReleased >= m.NextGC / 2);
  });
}

TEST_CASE("scavenge_now releases what it is asked for and says how much", "[memstats][scavenger]") {
  gort::run([] {
    build_and_drop_heap(8);
    gc::collect();
    const gc::MemStats before = mem_stats();
    // 1 MiB and a bit: rounded up to whole pages.
    const size_t asked = kMiB + 100;
    const size_t released = gc::scavenge_now(asked);
    const gc::MemStats after = mem_stats();
    REQUIRE(released == kMiB + gc::kHeapPageSize);
    // The background scavenger, woken by the collection, may add its own.
    REQUIRE(after.HeapReleased - before.HeapReleased >= released);
    gc::free_os_memory();
    REQUIRE(gc::scavenge_now(asked) == 0);  // nothing committed is free any more
  });
}

namespace {

// Releasing goroutines against allocating ones and collections: an
// allocation waits (unstoppable) for a stretch a releaser holds, while the
// world stops for a cycle. The releaser must not be stopped holding it, or
// the stop waits for ever (a hang this child reports as a killed process).
TEST_CASE("release against allocation child", "[.child]") {
  if (!gort_test::in_child()) return;
  const long made = gort::run([] {
    std::atomic<bool> stop{false};
    std::atomic<long> count{0};
    gort::WaitGroup wg;
    for (int w = 0; w < 3; ++w) {
      wg.add(1);
      gort::go([&, w] {
        for (size_t k = 0; !stop.load(); ++k) {
          gc::make_array<char>((w + 1) * 96 * 1024 + k % 7 * 8192)[0] = 1;
          count.fetch_add(1);
        }
        wg.done();
      });
    }
    wg.add(1);
    gort::go([&] {
      while (!stop.load()) gc::scavenge_now(size_t(64) << 20);
      wg.done();
    });
    for (int i = 0; i < 40; ++i) gc::collect();
    stop = true;
    wg.wait();
    return count.load();
  });
  std::printf("made=%ld\n", made);
}

}  // namespace

TEST_CASE("releasing pages never holds up a stop of the world", "[memstats][scavenger]") {
  for (const int n : gort_test::kProcCounts) {
    const auto r = gort_test::run_child("release against allocation child", {{"GOMAXPROCS", std::to_string(n)}});
    INFO("GOMAXPROCS " << n << "\n" << r.err);
    REQUIRE(r.exit_status == 0);
    REQUIRE(r.out.find("made=") != std::string::npos);
  }
}
