// WaitGroup: Go's semantics, goroutines parked rather than threads.
#include <atomic>
#include <catch2/catch.hpp>

#include "gort/gort.hpp"
#include "support.hpp"

using gort_test::kProcCounts;
using gort_test::procs;

TEST_CASE("wait on a zero counter returns at once", "[waitgroup]") {
  gort::run([] {
    gort::WaitGroup wg;
    wg.wait();
    wg.add(1);
    wg.done();
    wg.wait();
  });
}

TEST_CASE("a negative counter panics", "[waitgroup]") {
  gort::run([] {
    gort::WaitGroup wg;
    REQUIRE_THROWS_WITH(wg.done(), "sync: negative WaitGroup counter");
  });
}

TEST_CASE("wait blocks the goroutine, not the thread", "[waitgroup]") {
  // One P: if wait() blocked the thread, the goroutine that calls done()
  // could never run.
  const int seen = gort::run(
      [] {
        int value = 0;
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([&] {
          value = 7;
          wg.done();
        });
        wg.wait();
        return value;
      },
      procs(1));
  REQUIRE(seen == 7);
}

TEST_CASE("many waiters are all released", "[waitgroup]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int released = gort::run(
        [] {
          gort::WaitGroup gate, done;
          std::atomic<int> n{0};
          gate.add(1);
          done.add(1000);
          for (int i = 0; i < 1000; ++i)
            gort::go([&] {
              gate.wait();
              n.fetch_add(1);
              done.done();
            });
          gort::yield();
          gate.done();
          done.wait();
          return n.load();
        },
        procs(n));
    REQUIRE(released == 1000);
  }
}

TEST_CASE("a WaitGroup can be reused round after round", "[waitgroup]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int total = gort::run(
        [] {
          gort::WaitGroup wg;
          std::atomic<int> n{0};
          for (int round = 0; round < 100; ++round) {
            wg.add(10);
            for (int i = 0; i < 10; ++i)
              gort::go([&] {
                n.fetch_add(1);
                wg.done();
              });
            wg.wait();
          }
          return n.load();
        },
        procs(n));
    REQUIRE(total == 1000);
  }
}

TEST_CASE("a WaitGroup on a stack may die as soon as wait returns", "[waitgroup]") {
  // The last done() may still be inside the group when the waiter wakes;
  // run under ASan, this catches any use after the waiter returns. TSan,
  // which creates a fiber per goroutine slowly, gets fewer rounds.
#if defined(__SANITIZE_THREAD__)
  constexpr int kRounds = 5000;
#else
  constexpr int kRounds = 20000;
#endif
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          for (int i = 0; i < kRounds; ++i) {
            auto* wg = new gort::WaitGroup;
            wg->add(1);
            gort::go([wg] { wg->done(); });
            wg->wait();
            delete wg;
          }
        },
        procs(n));
  }
}
