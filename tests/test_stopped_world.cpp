// Nothing the runtime does while the world is stopped may allocate with
// malloc or new: a thread stopped by signal may be inside malloc holding its
// locks (a sanitizer's allocator has global ones), and the stopper would
// wait for them for ever. This program replaces the global operator new and
// counts the allocations the stopping thread makes between stopping and
// restarting the world, through every kind of root a collection visits.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "gort/gort.hpp"
#include "sched/sched.hpp"
#include "support.hpp"

// The replacements below pair malloc with free on purpose.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

using gort_test::procs;
namespace gc = gort::gc;

namespace {

std::atomic<long> allocations_while_stopped{0};
std::atomic<uint64_t> collector{0};  // the goroutine that stops the world

void count_if_stopping() {
  if (collector.load(std::memory_order_relaxed) != 0 &&
      gort::sched::sched.gcwaiting.load(std::memory_order_relaxed) && gort::goid() == collector.load())
    allocations_while_stopped.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

// The whole family, so that every new is paired with its own delete.
void* operator new(size_t n) {
  count_if_stopping();
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  count_if_stopping();
  return std::malloc(n ? n : 1);
}
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

struct Node {
  gc::ref<Node> left, right;
  int value = 0;
  void trace(gc::Visitor& v) const {
    v(left);
    v(right);
  }
};

Node* tree(int depth) {
  Node* n = gc::make<Node>();
  if (depth > 0) {
    n->left = tree(depth - 1);
    n->right = tree(depth - 1);
  }
  return n;
}

}  // namespace

TEST_CASE("a collection allocates nothing while the world is stopped", "[stw][gc]") {
  const long allocated = gort::run(
      [] {
        static gc::root<Node> kept;
        kept = tree(10);  // a grey list of a thousand objects
        auto ch = gort::make_chan<Node*>(64);
        for (int i = 0; i < 64; ++i) ch.send(tree(3));
        std::atomic<bool> stop{false};
        std::atomic<int> running{0};
        gort::WaitGroup wg;
        wg.add(2);
        gort::go([&] {  // stopped by signal: no safe point
          running.fetch_add(1);
          std::atomic<uint64_t> n{0};
          while (!stop.load(std::memory_order_relaxed)) n.fetch_add(1, std::memory_order_relaxed);
          wg.done();
        });
        gort::go([&] {  // stopped by signal inside a blocking call
          running.fetch_add(1);
          while (!stop.load(std::memory_order_relaxed)) gort::blocking([] { ::usleep(200); });
          wg.done();
        });
        auto timer = gort::after_func(std::chrono::hours(1), [n = tree(3)] { (void)n; });
        while (running.load() < 2) gort::yield();
        allocations_while_stopped = 0;
        collector = gort::goid();
        for (int i = 0; i < 50; ++i) {
          tree(6);
          gc::collect();
        }
        collector = 0;
        const long during = allocations_while_stopped.load();
        stop = true;
        wg.wait();
        timer->stop();
        kept = nullptr;
        return during;
      },
      procs(4));
  REQUIRE(allocated == 0);
}
