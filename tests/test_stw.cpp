// stop_the_world: idle Ps, Ps in blocking calls, goroutines at safe points,
// and a loop with no safe point at all, stopped by signal.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "gort/gort.hpp"
#include "sched/stw.hpp"
#include "support.hpp"

using gort_test::procs;

using namespace std::chrono_literals;
namespace sched = gort::sched;

TEST_CASE("a loop without safe points is stopped by signal, and really stops", "[stw]") {
  const auto r = gort::run(
      [] {
        std::atomic<bool> quit{false};
        std::atomic<uint64_t> spins{0};
        std::atomic<bool> started{false};
        gort::WaitGroup wg;
        wg.add(1);
        gort::go([&] {
          started = true;
          // No runtime call in this loop: only a signal can stop it.
          while (!quit.load(std::memory_order_relaxed)) spins.fetch_add(1, std::memory_order_relaxed);
          wg.done();
        });
        while (!started) gort::yield();
        const sched::StwStats st = sched::stop_the_world();
        const uint64_t a = spins.load();
        std::this_thread::sleep_for(20ms);  // the world is stopped: block the thread itself
        const uint64_t b = spins.load();
        sched::start_the_world();
        const uint64_t c0 = spins.load();
        while (spins.load() == c0) gort::yield();  // it runs again
        quit = true;
        wg.wait();
        return std::make_tuple(st.stopped_by_signal, a == b, st.stopped_at_safepoint);
      },
      procs(2));
  REQUIRE(std::get<0>(r) == 1);
  REQUIRE(std::get<1>(r));  // no progress while stopped
  REQUIRE(std::get<2>(r) == 0);
}

TEST_CASE("stop_the_world takes idle Ps, Ps in blocking calls, and goroutines at safe points", "[stw]") {
  const auto st = gort::run(
      [] {
        std::atomic<bool> quit{false};
        std::atomic<bool> looping{false};
        gort::WaitGroup wg;
        wg.add(2);
        gort::go([&] {
          gort::blocking([] { ::usleep(200000); });
          wg.done();
        });
        gort::go([&] {
          looping = true;
          while (!quit.load(std::memory_order_relaxed)) gort::safepoint();
          wg.done();
        });
        while (!looping) gort::yield();
        gort::sleep(2ms);  // let the blocking call begin
        const sched::StwStats st = sched::stop_the_world();
        sched::start_the_world();
        quit = true;
        wg.wait();
        return st;
      },
      procs(4));
  INFO("safepoint " << st.stopped_at_safepoint << " signal " << st.stopped_by_signal << " idle/blocking "
                    << st.idle_or_blocking);
  // Every other P is accounted for (which way a P stopped depends on
  // timing: a slow thread may be signalled before it reaches its safe point).
  REQUIRE(st.stopped_at_safepoint + st.stopped_by_signal + st.idle_or_blocking == 3);
  REQUIRE(st.idle_or_blocking >= 1);  // the P of the goroutine in its blocking call
}

TEST_CASE("the runtime works normally after many stops", "[stw]") {
  const int sum = gort::run(
      [] {
        auto ch = gort::make_chan<int>(8);
        std::atomic<int> total{0};
        gort::WaitGroup wg;
        wg.add(4);
        for (int w = 0; w < 4; ++w)
          gort::go([&] {
            for (int v : ch) total.fetch_add(v);
            wg.done();
          });
        for (int i = 1; i <= 2000; ++i) {
          ch.send(i);
          if (i % 100 == 0) {
            sched::stop_the_world();
            sched::start_the_world();
          }
        }
        ch.close();
        wg.wait();
        return total.load();
      },
      procs(2));
  REQUIRE(sum == 2000 * 2001 / 2);
}
