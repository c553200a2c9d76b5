// Nothing the runtime does where it cannot be stopped may allocate with
// malloc or new: a thread stopped by signal may be inside malloc holding its
// locks (a sanitizer's allocator has global ones), and whoever cannot be
// stopped would wait for them for ever while the stopper waits for it. That
// is the collector while the world is stopped, and any thread holding a
// runtime lock, in the allocator or halfway through a goroutine switch
// (internal::locks_held). This program replaces the global operator new and
// counts the allocations made in either situation.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#include "gort/gort.hpp"
#include "runtime/internal/lock.hpp"
#include "sched/sched.hpp"
#include "support.hpp"

// The replacements below pair malloc with free on purpose.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

using gort_test::procs;
namespace gc = gort::gc;

namespace {

std::atomic<long> allocations_while_stopped{0};
std::atomic<long> allocations_under_runtime_locks{0};
std::atomic<uint64_t> collector{0};  // the goroutine that stops the world

void count_if_stopping() {
  if (gort::internal::locks_held() > 0) allocations_under_runtime_locks.fetch_add(1, std::memory_order_relaxed);
  if (collector.load(std::memory_order_relaxed) != 0 && gort::sched::sched.gcwaiting.load(std::memory_order_relaxed) &&
      gort::goid() == collector.load())
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

// Everything the runtime does, at several P counts, with a new thread now
// and then (the M factory), timers, channels, select, parking on sync
// types, blocking calls, stack recycling and collections: not one
// allocation while a runtime lock is held or a switch is under way.
TEST_CASE("nothing allocates while it cannot be stopped", "[stw][gc][sched]") {
  for (const int n : {1, 2, 4, 8}) {
    INFO("GOMAXPROCS " << n);
    allocations_under_runtime_locks = 0;
    gort::run(
        [] {
          auto ch = gort::make_chan<Node*>(8);
          auto unbuffered = gort::make_chan<int>();
          gort::Mutex mu;
          gort::WaitGroup wg;
          long shared = 0;
          for (int i = 0; i < 64; ++i) {
            wg.add(1);
            gort::go([&, i] {
              for (int k = 0; k < 50; ++k) {
                // One receive for every send, so the channel can neither
                // fill up nor starve everyone: the timer only races it.
                ch.send(tree(2));
                if (gort::select(gort::recv(ch), gort::recv(gort::after(std::chrono::microseconds(k % 7)))) == 1)
                  ch.recv();
                if (i % 2 == 0) gort::select(gort::send(unbuffered, k), gort::otherwise([] {}));
                else gort::select(gort::recv(unbuffered), gort::otherwise([] {}));
                std::lock_guard<gort::Mutex> l(mu);
                ++shared;
              }
              if (i % 16 == 0) gort::blocking([] { ::usleep(100); });
              gort::sleep(std::chrono::microseconds(i % 5));
              wg.done();
            });
          }
          for (int i = 0; i < 20; ++i) gc::collect();
          wg.wait();
        },
        procs(n));
    REQUIRE(allocations_under_runtime_locks.load() == 0);
  }
}
