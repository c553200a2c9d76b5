// sysmon: blocking calls give their P away, long runners are preempted at
// safe points, the forced-GC hook ticks.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>

#include "gort/gort.hpp"
#include "runtime/internal/nanotime.hpp"
#include "support.hpp"

using gort_test::procs;

using namespace std::chrono_literals;
using gort::internal::nanotime;

TEST_CASE("a goroutine in a 1 s blocking call does not stop the others (GOMAXPROCS=1)", "[sysmon]") {
  const auto r = gort::run(
      [] {
        std::atomic<bool> blocked_done{false};
        std::atomic<int> ticks_while_blocked{0};
        gort::WaitGroup wg;
        wg.add(2);
        gort::go([&] {
          gort::blocking([] { ::usleep(1000000); });
          blocked_done = true;
          wg.done();
        });
        gort::go([&] {
          for (int i = 0; i < 50; ++i) {
            gort::sleep(2ms);
            if (!blocked_done) ticks_while_blocked.fetch_add(1);
          }
          wg.done();
        });
        wg.wait();
        return ticks_while_blocked.load();
      },
      procs(1));
  // All 50 ticks (at least 100 ms of sleeping) happened inside the 1 s call.
  REQUIRE(r == 50);
}

TEST_CASE("blocking outside a goroutine just runs the function", "[sysmon]") {
  REQUIRE(gort::blocking([] { return 5; }) == 5);
}

TEST_CASE("a long loop with a safe point does not starve another goroutine (GOMAXPROCS=1)", "[sysmon]") {
  const auto r = gort::run(
      [] {
        std::atomic<bool> stop{false};
        std::atomic<bool> gave_up{false};
        gort::WaitGroup wg;
        wg.add(2);
        gort::go([&] {
          const int64_t limit = nanotime() + 5000000000LL;
          while (!stop.load(std::memory_order_relaxed)) {
            gort::safepoint();  // the loop's only contact with the runtime
            if (nanotime() > limit) {
              gave_up = true;
              break;
            }
          }
          wg.done();
        });
        gort::go([&] {
          stop = true;
          wg.done();
        });
        wg.wait();
        return gave_up.load();
      },
      procs(1));
  // The spinner was preempted (after ~10 ms), the other goroutine ran and
  // stopped it; it did not run into its 5 s emergency exit.
  REQUIRE_FALSE(r);
}
