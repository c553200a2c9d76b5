// Mutex (with starvation mode), RWMutex, Once, Cond: all park goroutines.
#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <vector>

#include "gort/gort.hpp"
#include "runtime/internal/nanotime.hpp"
#include "support.hpp"

using gort_test::kProcCounts;
using gort_test::procs;

namespace {

void busy_ns(int64_t ns) {
  const int64_t end = gort::internal::nanotime() + ns;
  while (gort::internal::nanotime() < end) {
  }
}

}  // namespace

TEST_CASE("Mutex gives mutual exclusion", "[sync]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int64_t total = gort::run(
        [] {
          gort::Mutex mu;
          int64_t counter = 0;  // deliberately not atomic
          gort::WaitGroup wg;
          wg.add(100);
          for (int g = 0; g < 100; ++g)
            gort::go([&] {
              for (int i = 0; i < 1000; ++i) {
                std::lock_guard<gort::Mutex> l(mu);
                ++counter;
                if (i % 100 == 0) gort::yield();  // hold it across a switch now and then
              }
              wg.done();
            });
          wg.wait();
          return counter;
        },
        procs(n));
    REQUIRE(total == 100000);
  }
}

TEST_CASE("Mutex try_lock", "[sync]") {
  gort::run([] {
    gort::Mutex mu;
    REQUIRE(mu.try_lock());
    REQUIRE_FALSE(mu.try_lock());
    mu.unlock();
    REQUIRE(mu.try_lock());
    mu.unlock();
  });
}

TEST_CASE("a waiter is not starved by a goroutine that keeps relocking", "[sync]") {
  // Go's TestMutexFairness: without starvation mode the running goroutine
  // nearly always re-takes the lock before the woken waiter gets to it.
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const auto r = gort::run(
        [] {
          gort::Mutex mu;
          std::atomic<bool> waiter_done{false};
          std::atomic<int> hog_rounds{0};
          gort::WaitGroup wg;
          wg.add(2);
          gort::go([&] {
            while (!waiter_done && hog_rounds < 20000) {
              mu.lock();
              busy_ns(100000);
              mu.unlock();
              hog_rounds.fetch_add(1);
            }
            wg.done();
          });
          gort::go([&] {
            for (int i = 0; i < 10; ++i) {
              busy_ns(50000);
              mu.lock();
              mu.unlock();
            }
            waiter_done = true;
            wg.done();
          });
          wg.wait();
          return std::make_pair(waiter_done.load(), hog_rounds.load());
        },
        procs(n));
    INFO("hog rounds while the waiter took the lock 10 times: " << r.second);
    REQUIRE(r.first);
    // Each of the waiter's 10 acquisitions costs at most a starvation
    // threshold (1 ms, ~10 rounds of 100 us) plus slack.
    REQUIRE(r.second < 1000);
  }
}

TEST_CASE("RWMutex lets readers share and writers exclude", "[sync]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const auto r = gort::run(
        [] {
          gort::RWMutex rw;
          std::atomic<int> readers_in{0}, max_readers{0}, writers_in{0};
          std::atomic<bool> overlap{false};
          int64_t value = 0;
          gort::WaitGroup wg;
          wg.add(40);
          for (int g = 0; g < 40; ++g)
            gort::go([&, g] {
              for (int i = 0; i < 200; ++i) {
                if (g % 4 == 0) {
                  rw.lock();
                  if (writers_in.fetch_add(1) != 0 || readers_in.load() != 0) overlap = true;
                  ++value;
                  gort::yield();
                  writers_in.fetch_sub(1);
                  rw.unlock();
                } else {
                  rw.lock_shared();
                  const int now = readers_in.fetch_add(1) + 1;
                  int seen = max_readers.load();
                  while (now > seen && !max_readers.compare_exchange_weak(seen, now)) {
                  }
                  if (writers_in.load() != 0) overlap = true;
                  gort::yield();
                  readers_in.fetch_sub(1);
                  rw.unlock_shared();
                }
              }
              wg.done();
            });
          wg.wait();
          return std::make_tuple(overlap.load(), max_readers.load(), value);
        },
        procs(n));
    REQUIRE_FALSE(std::get<0>(r));
    REQUIRE(std::get<1>(r) > 1);  // readers really did share
    REQUIRE(std::get<2>(r) == 10 * 200);
  }
}

TEST_CASE("Once runs its function exactly once and others wait for it", "[sync]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const auto r = gort::run(
        [] {
          gort::Once once;
          std::atomic<int> calls{0}, saw_done{0};
          std::atomic<bool> done{false};
          gort::WaitGroup wg;
          wg.add(100);
          for (int g = 0; g < 100; ++g)
            gort::go([&] {
              once.call([&] {
                calls.fetch_add(1);
                gort::yield();
                done = true;
              });
              if (done) saw_done.fetch_add(1);
              wg.done();
            });
          wg.wait();
          return std::make_pair(calls.load(), saw_done.load());
        },
        procs(n));
    REQUIRE(r.first == 1);
    REQUIRE(r.second == 100);
  }
}

TEST_CASE("Cond signal wakes waiters in FIFO order, broadcast wakes all", "[sync]") {
  for (const int n : {1, 2, 4, 8}) {
    INFO("GOMAXPROCS " << n);
    const auto order = gort::run(
        [] {
          gort::Mutex mu;
          gort::Cond cond(mu);
          std::vector<int> order;
          int waiting = 0;
          int permits = 0;
          gort::WaitGroup wg;
          wg.add(5);
          for (int i = 0; i < 5; ++i) {
            gort::go([&, i] {
              mu.lock();
              ++waiting;
              while (permits == 0) cond.wait();
              --permits;
              order.push_back(i);
              mu.unlock();
              wg.done();
            });
            // Let goroutine i queue before i+1 starts.
            for (;;) {
              std::lock_guard<gort::Mutex> l(mu);
              if (waiting == i + 1) break;
              mu.unlock();
              gort::yield();
              mu.lock();
            }
          }
          for (int i = 0; i < 3; ++i) {
            mu.lock();
            ++permits;
            cond.signal();
            mu.unlock();
            for (;;) {
              std::lock_guard<gort::Mutex> l(mu);
              if (order.size() == size_t(i + 1)) break;
              mu.unlock();
              gort::yield();
              mu.lock();
            }
          }
          mu.lock();
          permits += 2;
          cond.broadcast();
          mu.unlock();
          wg.wait();
          return order;
        },
        procs(n));
    REQUIRE(order.size() == 5);
    REQUIRE(std::vector<int>(order.begin(), order.begin() + 3) == std::vector<int>{0, 1, 2});
  }
}
