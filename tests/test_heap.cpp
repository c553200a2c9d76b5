// gc/ heap: size classes, spans, per-P caches, O(1) interior-pointer lookup.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

#include "gc/mcache.hpp"
#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "gc/sizeclass.hpp"
#include "gort/gort.hpp"
#include "support.hpp"

using gort_test::procs;

using namespace gort::gc;

TEST_CASE("size classes round up to the smallest class that fits", "[heap]") {
  REQUIRE(num_classes() == 69);  // Go 1.19's 67 small classes, the 40-byte one, and class 0
  REQUIRE(class_size(1) == 8);
  REQUIRE(class_size(num_classes() - 1) == kMaxSmallSize);
  for (int c = 2; c < num_classes(); ++c) REQUIRE(class_size(c) > class_size(c - 1));
  for (size_t size = 1; size <= kMaxSmallSize; ++size) {
    const int c = size_to_class(size);
    REQUIRE(class_size(c) >= size);
    REQUIRE((c == 1 || class_size(c - 1) < size));
  }
  REQUIRE(size_to_class(kMaxSmallSize + 1) == 0);
}

TEST_CASE("size classes waste at most an eighth of a span", "[heap]") {
  for (int c = 1; c < num_classes(); ++c) {
    const size_t span = class_pages(c) * kHeapPageSize;
    INFO("class " << c << " size " << class_size(c));
    REQUIRE(span / class_size(c) >= 1);
    REQUIRE(span % class_size(c) <= span / 8);
  }
}

// mallocgc hands out bare zeroed slots, and the collector reads an object
// header at the start of every allocated one (zero: pointer-free bytes, no
// destructor). These tests leave that header alone, since later tests'
// collections sweep what they allocate.
TEST_CASE("any address inside an object finds the object in O(1)", "[heap]") {
  gort::run([] {
    for (size_t size : {24, 100, 1000, 5000, 32768, 100000, 1 << 20}) {
      for (int i = 0; i < 50; ++i) {
        auto* p = static_cast<unsigned char*>(mallocgc(size, false));
        const auto base = reinterpret_cast<uintptr_t>(p);
        for (size_t off : {size_t(0), size / 3, size - 1}) REQUIRE(Heap::get().find_object(base + off) == base);
        const Span* s = Heap::get().span_of(base);
        REQUIRE(s != nullptr);
        REQUIRE(s->elemsize >= size);
        REQUIRE(!s->noscan());
      }
    }
    int on_stack = 0;
    REQUIRE(Heap::get().find_object(reinterpret_cast<uintptr_t>(&on_stack)) == 0);
    REQUIRE(Heap::get().span_of(0) == nullptr);
  });
}

TEST_CASE("a free slot in a span is not an object", "[heap]") {
  gort::run(
      [] {
        void* a = mallocgc(4000, true);
        const Span* s = Heap::get().span_of(reinterpret_cast<uintptr_t>(a));
        REQUIRE(s->noscan());
        // The slot after the last one handed out is not allocated yet.
        const uintptr_t next = reinterpret_cast<uintptr_t>(a) + s->elemsize;
        if (next < s->base + size_t(s->nelems) * s->elemsize && !s->is_allocated(next))
          REQUIRE(Heap::get().find_object(next) == 0);
      },
      procs(1));
}

TEST_CASE("pointer-free objects live in noscan spans, others in scan spans", "[heap]") {
  gort::run([] {
    void* scan = mallocgc(64, false);
    void* noscan = mallocgc(64, true);
    REQUIRE(Heap::get().span_of(reinterpret_cast<uintptr_t>(scan)) !=
            Heap::get().span_of(reinterpret_cast<uintptr_t>(noscan)));
    REQUIRE(Heap::get().span_of(reinterpret_cast<uintptr_t>(noscan))->noscan());
  });
}

TEST_CASE("every P allocates at once without overlap", "[heap]") {
  struct Block {
    uintptr_t addr;
    size_t size;
  };
  const auto blocks = gort::run(
      [] {
        constexpr int kWorkers = 8;
        std::vector<std::vector<Block>> per(kWorkers);
        std::atomic<int> not_zeroed{0};  // Catch2 assertions are not thread-safe
        gort::WaitGroup wg;
        wg.add(kWorkers);
        for (int w = 0; w < kWorkers; ++w)
          gort::go([&, w] {
            uint32_t r = uint32_t(w) * 2654435761u + 1;
            for (int i = 0; i < 20000; ++i) {
              r = r * 1664525u + 1013904223u;
              const size_t size = 1 + (r >> 8) % (i % 100 == 0 ? 40000 : 600);
              auto* p = static_cast<unsigned char*>(mallocgc(size + sizeof(Header), (r & 1) != 0));
              if (p[0] != 0 || p[size + sizeof(Header) - 1] != 0) not_zeroed.fetch_add(1);
              // The header (type null: pointer-free bytes) stays, so that a
              // later collection can sweep the block.
              std::memset(p + sizeof(Header), w + 1, size);
              per[size_t(w)].push_back({reinterpret_cast<uintptr_t>(p) + sizeof(Header), size});
              if (i % 1000 == 0) gort::yield();
            }
            wg.done();
          });
        wg.wait();
        REQUIRE(not_zeroed.load() == 0);
        // Every block still holds its owner's pattern.
        for (int w = 0; w < kWorkers; ++w)
          for (const Block& b : per[size_t(w)])
            for (size_t k = 0; k < b.size; k += 97) REQUIRE(reinterpret_cast<unsigned char*>(b.addr)[k] == w + 1);
        std::vector<Block> all;
        for (auto& v : per) all.insert(all.end(), v.begin(), v.end());
        return all;
      },
      procs(2));
  std::vector<Block> sorted = blocks;
  std::sort(sorted.begin(), sorted.end(), [](const Block& a, const Block& b) { return a.addr < b.addr; });
  for (size_t i = 1; i < sorted.size(); ++i) REQUIRE(sorted[i - 1].addr + sorted[i - 1].size <= sorted[i].addr);
}

TEST_CASE("a large object gets a span of its own", "[heap]") {
  gort::run([] {
    void* big = mallocgc(3 * kMaxSmallSize + 5, false);
    const Span* s = Heap::get().span_of(reinterpret_cast<uintptr_t>(big));
    REQUIRE(s->base == reinterpret_cast<uintptr_t>(big));
    REQUIRE(s->sizeclass() == 0);
    REQUIRE(s->nelems == 1);
    REQUIRE(s->npages == (3 * kMaxSmallSize + 5 + kHeapPageSize - 1) / kHeapPageSize);
    REQUIRE(Heap::get().find_object(reinterpret_cast<uintptr_t>(big) + 3 * kMaxSmallSize) ==
            reinterpret_cast<uintptr_t>(big));
  });
}

namespace {

namespace gc = gort::gc;
constexpr int64_t kMiB = 1 << 20;

// A pointer-free kibibyte: arrays of these are zeroed with one memset per
// element instead of a constructor call per byte (which ASan would check
// byte by byte).
struct KiB {
  char bytes[1024];
};

// A tiny LCG: the sizes below need to be varied, not random in any
// statistical sense, and the same on every run.
struct Lcg {
  uint64_t s;
  uint64_t next() { return (s = s * 6364136223846793005u + 1442695040888963407u) >> 17; }
};

// ThreadSanitizer keeps several shadow bytes, all resident, for every byte
// the program touches: under it RSS says nothing about the heap.
// AddressSanitizer keeps one shadow byte per eight, and the heap poisons
// every page it frees, so its shadow stays resident: an eighth more RSS.
#if defined(__SANITIZE_THREAD__)
constexpr bool kRssTracksHeap = false;
constexpr int64_t rss_for(int64_t heap_bytes) { return heap_bytes; }
#elif defined(__SANITIZE_ADDRESS__)
constexpr bool kRssTracksHeap = true;
constexpr int64_t rss_for(int64_t heap_bytes) { return heap_bytes + heap_bytes / 8; }
#else
constexpr bool kRssTracksHeap = true;
constexpr int64_t rss_for(int64_t heap_bytes) { return heap_bytes; }
#endif

}  // namespace

// Go's append pattern: every step needs a slightly bigger buffer and the
// previous one turns to garbage. No freed run is ever big enough for the
// next request on its own, so a heap that does not merge adjacent free runs
// (or give them back to the OS) takes fresh pages every time, and its RSS
// grows with the sum of all the sizes instead of the largest one (here
// 1,853 steps: about 60 GB).
//
// The bound is what the pacer allows plus fragmentation, not the largest
// buffer: with GOGC=100 each step's buffer is as big as the live heap, so
// a cycle runs at nearly every step, and while it marks, three buffers are
// in use (the one the last cycle saw live, which only this cycle's sweep
// frees, the current one, and the new one allocated black). Go 1.19, given
// the same loop over make([]byte, n KiB) with the same sizes, peaks at 5.8
// to 7.0 times its largest buffer on this machine; gort's optimised build
// at 4.0 in most runs, its ASan build at up to 5.7, and about one run in
// ten (before and after the pause work of 2026-11-29) reaches 7.9-8.3 times
// plus the slack below, when a burst of cycles outruns the paced scavenger.
// The bound, 8 times plus 64 MiB, is past that and far from the runaway.
TEST_CASE("RSS stays near the live heap while a buffer grows by small steps", "[heap][gc]") {
  if (!kRssTracksHeap) {
    WARN("skipped: RSS under ThreadSanitizer is mostly shadow memory");
    return;
  }
  constexpr size_t kTargetKiB = 64 * 1024;  // 64 MiB
  const auto r = gort::run(
      [] {
        gc::collect();
        const int64_t base = gort_test::rss_bytes();
        Lcg rng{1};
        int64_t peak = 0;
        size_t n = 0;  // KiB
        int steps = 0;
        while (n < kTargetKiB) {
          n += 8 + rng.next() % 57;
          KiB* buf = gc::make_array<KiB>(n);  // the only reference: the last buffer is garbage now
          buf[n - 1].bytes[0] = 1;
          ++steps;
          peak = std::max(peak, gort_test::rss_bytes() - base);
          // Stop as soon as the bound is broken: today's heap would go on
          // to many gigabytes.
          if (peak > rss_for(8 * int64_t(n) * 1024 + 64 * kMiB)) break;
        }
        return std::make_tuple(peak, int64_t(n) * 1024, steps);
      },
      procs(2));
  const auto [peak, largest, steps] = r;
  INFO("RSS growth " << peak / kMiB << " MiB, largest buffer " << largest / kMiB << " MiB after " << steps << " steps");
  REQUIRE(peak <= rss_for(8 * largest + 64 * kMiB));
  REQUIRE(largest >= int64_t(kTargetKiB) * 1024);  // ran to the end
}

// Large objects of random sizes with a steady live set: freed runs come in
// every size and get split by best fit, so without merging them back
// together big requests keep finding nothing that fits.
TEST_CASE("RSS stays a small multiple of the live heap under random large allocations", "[heap][gc]") {
  if (!kRssTracksHeap) {
    WARN("skipped: RSS under ThreadSanitizer is mostly shadow memory");
    return;
  }
  constexpr int kRing = 8;       // ~8 x 2 MiB on average: 16-20 MiB live
  constexpr int kRounds = 5000;  // ~10 GB allocated in all
  struct Ring {
    gc::ref<KiB> slot[kRing];
    void trace(gc::Visitor& v) const {
      for (const auto& s : slot) v(s);
    }
  };
  const auto r = gort::run(
      [] {
        gc::root<Ring> ring(gc::make<Ring>());
        size_t size[kRing] = {};  // KiB
        gc::collect();
        const int64_t base = gort_test::rss_bytes();
        Lcg rng{7};
        int64_t peak = 0, live_max = 0;
        int rounds = 0;
        for (; rounds < kRounds; ++rounds) {
          const int i = int(rng.next() % kRing);
          size[i] = 33 + rng.next() % (4096 - 33 + 1);  // 33 KiB .. 4 MiB: all large objects
          KiB* chunk = gc::make_array<KiB>(size[i]);
          chunk[size[i] - 1].bytes[0] = 1;
          ring->slot[i] = chunk;
          int64_t live = 0;
          for (size_t s : size) live += int64_t(s) * 1024;
          live_max = std::max(live_max, live);
          peak = std::max(peak, gort_test::rss_bytes() - base);
          if (peak > rss_for(6 * live_max)) break;  // stop early: today's heap keeps growing
        }
        return std::make_tuple(peak, live_max, rounds);
      },
      procs(2));
  const auto [peak, live_max, rounds] = r;
  INFO("RSS growth " << peak / kMiB << " MiB, live at most " << live_max / kMiB << " MiB, after " << rounds
                     << " rounds");
  REQUIRE(peak <= rss_for(6 * live_max));
  REQUIRE(rounds == kRounds);  // ran to the end
}
