// The stop-the-world collector: what must survive survives, what is garbage
// is reclaimed (destructors run exactly once), memory is reused.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>

#include "gc/mheap.hpp"
#include "gort/gort.hpp"
#include "support.hpp"

using gort_test::procs;

using namespace std::chrono_literals;
namespace gc = gort::gc;

namespace {

std::atomic<int> destroyed{0};
std::atomic<int> destroyed_protected{0};  // nodes with values >= kProtected
constexpr int kProtected = 1000000;

struct Node {
  gc::ref<Node> left, right;
  int value = 0;
  explicit Node(int v = 0) : value(v) {}
  ~Node() {
    destroyed.fetch_add(1);
    if (value >= kProtected) destroyed_protected.fetch_add(1);
  }
  void trace(gc::Visitor& v) const {
    v(left);
    v(right);
  }
};

// Pointer-free: lives in a noscan span, never traced.
struct Blob {
  char bytes[200];
};

Node* tree(int depth, int& counter) {
  Node* n = gc::make<Node>(counter++);
  if (depth > 0) {
    n->left = tree(depth - 1, counter);
    n->right = tree(depth - 1, counter);
  }
  return n;
}

int sum(const Node* n) { return n ? n->value + sum(n->left.get()) + sum(n->right.get()) : 0; }

// Churns garbage so that no stale copy of a pointer survives in this frame.
__attribute__((noinline)) void make_garbage(int depth) {
  int c = 0;
  tree(depth, c);
}

// Makes garbage in a goroutine that then exits: no stack the collector
// scans ever held those pointers, so a conservative scan cannot retain any.
void make_garbage_elsewhere(int depth) {
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&wg, depth] {
    make_garbage(depth);
    wg.done();
  });
  wg.wait();
}

// Collects until earlier tests' garbage is gone and destructors have run.
void settle() {
  for (int i = 0; i < 3; ++i) gc::collect();
}

}  // namespace

TEST_CASE("unreachable objects are reclaimed and destroyed exactly once", "[gc]") {
  gort::run([] {
    settle();
    destroyed = 0;
    const auto before = gc::stats();
    make_garbage_elsewhere(9);  // 1,023 nodes
    gc::collect();              // finds them dead; destructors run after the pause
    REQUIRE(destroyed.load() == 1023);
    gc::collect();  // frees their memory; no destructor runs twice
    gc::collect();
    REQUIRE(destroyed.load() == 1023);
    REQUIRE(gc::stats().freed_objects - before.freed_objects >= 1023);
  });
}

TEST_CASE("objects reachable through a chain of refs from a root survive", "[gc]") {
  static gc::root<Node> keep;
  gort::run([] {
    int c = 0;
    keep = tree(10, c);
    const int expected = sum(keep.get());
    destroyed = 0;
    for (int i = 0; i < 3; ++i) {
      make_garbage(8);
      gc::collect();
    }
    REQUIRE(sum(keep.get()) == expected);
    keep = nullptr;
  });
}

TEST_CASE("objects held only by another goroutine's parked stack survive", "[gc]") {
  const auto r = gort::run(
      [] {
        auto go_on = gort::make_chan<int>();
        std::atomic<int> seen{-1};
        std::atomic<int> expected{0};
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([&] {
          int c = kProtected;
          Node* mine = tree(8, c);  // only this stack knows it
          expected = sum(mine);
          go_on.recv();  // parked while main collects
          seen = sum(mine);
          wg.done();
        });
        while (expected == 0) gort::yield();
        gort::sleep(1ms);
        destroyed_protected = 0;
        for (int i = 0; i < 3; ++i) {
          make_garbage(6);
          gc::collect();
        }
        const int destroyed_while_parked = destroyed_protected.load();
        go_on.send(1);
        wg.wait();
        return std::make_tuple(seen.load(), expected.load(), destroyed_while_parked);
      },
      procs(2));
  REQUIRE(std::get<0>(r) == std::get<1>(r));
  REQUIRE(std::get<2>(r) == 0);  // none of the parked goroutine's nodes died
}

TEST_CASE("a goroutine stopped by signal keeps what its registers and stack hold", "[gc]") {
  const bool ok = gort::run(
      [] {
        std::atomic<bool> quit{false}, ready{false};
        std::atomic<int> result{0};
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([&] {
          int c = 0;
          Node* volatile mine = tree(6, c);
          ready = true;
          uint64_t spins = 0;
          while (!quit.load(std::memory_order_relaxed)) ++spins;  // no safe point
          result = sum(mine) + int(spins % 1);
          wg.done();
        });
        while (!ready) gort::yield();
        for (int i = 0; i < 3; ++i) {
          make_garbage(6);
          gc::collect();
        }
        quit = true;
        wg.wait();
        int c = 0;
        Node* ref = tree(6, c);
        return result.load() == sum(ref);
      },
      procs(2));
  REQUIRE(ok);
}

TEST_CASE("a goroutine inside a blocking call keeps its objects", "[gc]") {
  const bool ok = gort::run(
      [] {
        std::atomic<bool> in_call{false};
        std::atomic<int> result{0};
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([&] {
          int c = 0;
          Node* mine = tree(6, c);
          gort::blocking([&] {
            in_call = true;
            ::usleep(100000);
          });
          result = sum(mine);
          wg.done();
        });
        while (!in_call) gort::yield();
        for (int i = 0; i < 3; ++i) {
          make_garbage(6);
          gc::collect();
        }
        wg.wait();
        int c = 0;
        return result.load() == sum(tree(6, c));
      },
      procs(2));
  REQUIRE(ok);
}

TEST_CASE("what a goroutine captured stays alive until it runs", "[gc]") {
  const int got = gort::run(
      [] {
        auto done = gort::make_chan<int>(1);
        auto gate = gort::make_chan<int>();
        {
          int c = 0;
          Node* n = tree(5, c);
          gort::go([n, done, gate] {
            gate.recv();
            done.send(sum(n));
          });
        }
        for (int i = 0; i < 3; ++i) {
          make_garbage(6);
          gc::collect();
        }
        gate.send(1);
        return done.recv();
      },
      procs(2));
  REQUIRE(got == 62 * 63 / 2);  // nodes 0..62
}

TEST_CASE("memory is reused: the heap stays flat over a long churn", "[gc]") {
  const auto r = gort::run(
      [] {
        gc::collect();
        size_t spans_after_warmup = 0;
        int64_t rss_after_warmup = 0;
        // ~120 MB of small and large garbage, collected automatically.
        for (int round = 0; round < 400; ++round) {
          make_garbage(10);                             // ~2,047 nodes
          for (int i = 0; i < 20; ++i) gc::make<Blob>();  // noscan
          gc::make_array<Blob>(1000);                     // a large object
          if (round == 50) {
            spans_after_warmup = gc::Heap::get().bytes_in_spans();
            rss_after_warmup = gort_test::rss_bytes();
          }
        }
        return std::make_tuple(spans_after_warmup, gc::Heap::get().bytes_in_spans(), gc::stats().num_gc,
                               rss_after_warmup, gort_test::rss_bytes());
      },
      procs(2));
  INFO("heap spans after warm-up " << std::get<0>(r) << ", at the end " << std::get<1>(r) << ", collections "
                                   << std::get<2>(r));
  INFO("RSS after warm-up " << std::get<3>(r) << ", at the end " << std::get<4>(r));
  REQUIRE(std::get<2>(r) >= 10);                        // the heap goal triggered collections
  REQUIRE(std::get<1>(r) <= std::get<0>(r) + (16u << 20));  // no growth beyond noise
  REQUIRE(std::get<4>(r) <= std::get<3>(r) + (32 << 20));   // RSS flat too
}

TEST_CASE("every P allocates while collections happen", "[gc]") {
  const bool ok = gort::run(
      [] {
        std::atomic<int> bad{0};
        gort::WaitGroup wg;
        wg.add(4);
        for (int w = 0; w < 4; ++w)
          gort::go([&] {
            for (int i = 0; i < 30; ++i) {
              int c = 0;
              Node* t = tree(8, c);
              make_garbage(7);
              if (sum(t) != 511 * 510 / 2) bad.fetch_add(1);
              if (i % 10 == 0) gc::collect();
            }
            wg.done();
          });
        wg.wait();
        return bad.load() == 0;
      },
      procs(2));
  REQUIRE(ok);
}
