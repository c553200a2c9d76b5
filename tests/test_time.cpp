// Timers: sleep, after, Timer, Ticker, after_func. Deadlines are asserted as
// "not early" (a timer must never fire before its time) and as orderings;
// never as "within N ms", which a busy machine cannot promise.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <vector>

#include "gort/gort.hpp"
#include "runtime/internal/nanotime.hpp"
#include "support.hpp"

using gort_test::procs;

using namespace std::chrono_literals;
using gort::internal::nanotime;

namespace {

int64_t cpu_ns() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (int64_t(ru.ru_utime.tv_sec) + ru.ru_stime.tv_sec) * 1000000000 +
         (int64_t(ru.ru_utime.tv_usec) + ru.ru_stime.tv_usec) * 1000;
}

}  // namespace

TEST_CASE("sleep never returns early", "[time]") {
  gort::run([] {
    for (auto d : {1ms, 5ms, 20ms}) {
      const int64_t start = nanotime();
      gort::sleep(d);
      REQUIRE(nanotime() - start >= std::chrono::nanoseconds(d).count());
    }
    gort::sleep(0ms);
    gort::sleep(-5ms);
  });
}

TEST_CASE("sleepers wake no earlier than their deadlines", "[time]") {
  const auto late = gort::run(
      [] {
        constexpr int kN = 25;
        std::vector<int64_t> late(kN);
        gort::WaitGroup wg;
        wg.add(kN);
        const int64_t start = nanotime();
        for (int k = 0; k < kN; ++k) {
          const int i = (k * 7) % kN;
          gort::go([&, i] {
            const int64_t deadline = start + int64_t(i + 1) * 1000000;
            gort::sleep(std::chrono::nanoseconds(deadline - nanotime()));
            late[size_t(i)] = nanotime() - deadline;
            wg.done();
          });
        }
        wg.wait();
        return late;
      },
      procs(2));
  for (int64_t l : late) REQUIRE(l >= 0);
}

TEST_CASE("timers fire in deadline order", "[time]") {
  // One P, so one timer heap and one clock reading per batch: a timer with a
  // later deadline can never fire at an earlier time than one due before it,
  // however late the scheduler gets to them.
  const auto fired = gort::run(
      [] {
        constexpr int kN = 40;
        const auto start = gort::Clock::now();
        std::vector<gort::chan<gort::Time>> chans(kN);
        for (int k = 0; k < kN; ++k) {
          const int i = (k * 17) % kN;  // armed out of order
          chans[size_t(i)] = gort::after(std::chrono::microseconds(500 * (i + 1)));
        }
        std::vector<int64_t> fired;
        for (int i = 0; i < kN; ++i) {
          const auto t = chans[size_t(i)].recv();
          REQUIRE(t - start >= std::chrono::microseconds(500 * (i + 1)));
          fired.push_back((t - start).count());
        }
        return fired;
      },
      procs(1));
  REQUIRE(std::is_sorted(fired.begin(), fired.end()));
}

TEST_CASE("after delivers the time once", "[time]") {
  gort::run([] {
    const auto start = gort::Clock::now();
    auto c = gort::after(10ms);
    const gort::Time fired = c.recv();
    REQUIRE(fired - start >= 10ms);
    REQUIRE(gort::Clock::now() - start >= 10ms);
    REQUIRE(c.len() == 0);
  });
}

TEST_CASE("select with a timeout", "[time]") {
  gort::run([] {
    auto never = gort::make_chan<int>();
    bool timed_out = false;
    gort::select(gort::recv(never), gort::recv(gort::after(5ms), [&](gort::Time) { timed_out = true; }));
    REQUIRE(timed_out);
  });
}

TEST_CASE("Timer stop and reset", "[time]") {
  gort::run([] {
    gort::Timer t(20ms);
    REQUIRE(t.stop());
    REQUIRE_FALSE(t.stop());
    // Stopped: nothing arrives even well after the deadline.
    bool fired = false;
    gort::select(gort::recv(t.C, [&](gort::Time) { fired = true; }), gort::recv(gort::after(40ms)));
    REQUIRE_FALSE(fired);

    const auto start = gort::Clock::now();
    REQUIRE_FALSE(t.reset(5ms));
    const gort::Time at = t.C.recv();
    REQUIRE(at - start >= 5ms);
    REQUIRE_FALSE(t.stop());  // already fired

    gort::Timer u(1h);
    REQUIRE(u.reset(1ms));  // was active
    u.C.recv();
  });
}

TEST_CASE("Ticker ticks every period, never early, and stops", "[time]") {
  gort::run([] {
    const auto start = gort::Clock::now();
    gort::Ticker tick(4ms);
    for (int i = 1; i <= 5; ++i) {
      const gort::Time t = tick.C.recv();
      REQUIRE(t - start >= i * 4ms);
    }
    tick.stop();
    gort::sleep(10ms);
    tick.C.len() == 1 ? void(tick.C.recv()) : void();  // one tick may have been buffered
    bool more = false;
    gort::select(gort::recv(tick.C, [&](gort::Time) { more = true; }), gort::recv(gort::after(20ms)));
    REQUIRE_FALSE(more);
    REQUIRE_THROWS_AS(gort::Ticker(0ms), gort::panic_error);
  });
}

TEST_CASE("after_func runs its function in a goroutine after the delay", "[time]") {
  gort::run([] {
    auto done = gort::make_chan<uint64_t>(1);
    const int64_t start = nanotime();
    auto t = gort::after_func(5ms, [done] { done.send(gort::goid()); });
    const uint64_t id = done.recv();
    REQUIRE(id != 0);
    REQUIRE(id != gort::goid());
    REQUIRE(nanotime() - start >= 5000000);
    auto cancelled = gort::after_func(5ms, [done] { done.send(1); });
    REQUIRE(cancelled->stop());
    gort::sleep(15ms);
    REQUIRE(done.len() == 0);
  });
}

TEST_CASE("an idle runtime sleeps instead of polling", "[time]") {
  const double cpu_per_wall = gort::run(
      [] {
        const int64_t wall0 = nanotime(), cpu0 = cpu_ns();
        gort::sleep(300ms);
        return double(cpu_ns() - cpu0) / double(nanotime() - wall0);
      },
      procs(2));
  INFO("CPU time per wall time while sleeping: " << cpu_per_wall);
  REQUIRE(cpu_per_wall < 0.05);
}

TEST_CASE("many goroutines sleeping at once all wake", "[time]") {
  const int woke = gort::run(
      [] {
        std::atomic<int> n{0};
        gort::WaitGroup wg;
        wg.add(10000);
        for (int i = 0; i < 10000; ++i)
          gort::go([&, i] {
            gort::sleep(std::chrono::microseconds(100 * (i % 50)));
            n.fetch_add(1);
            wg.done();
          });
        wg.wait();
        return n.load();
      },
      procs(2));
  REQUIRE(woke == 10000);
}

// add_timer wakes the netpoller after dropping the heap's lock. By then a
// timer due at once may have fired on another P and, for after(), been
// freed with its channel's TimerState: nothing may read it after the unlock.
// Fewer goroutines than Ps: the idle Ms, woken by the previous timer, are
// the ones that run this P's timers behind the goroutine's back.
TEST_CASE("after with tiny delays from several goroutines at once", "[time]") {
  const long got = gort::run(
      [] {
        constexpr int kGoroutines = 2, kEach = 100000;
        std::atomic<long> received{0};
        gort::WaitGroup wg;
        wg.add(kGoroutines);
        for (int w = 0; w < kGoroutines; ++w)
          gort::go([&, w] {
            for (int i = 0; i < kEach; ++i) {
              auto c = gort::after(std::chrono::nanoseconds((i + w) % 3 == 0 ? 0 : (i % 2000)));
              // Abandon most channels, as a select that timed out elsewhere
              // would: their timers fire and free themselves unobserved.
              if (i % 8 == 0) {
                c.recv();
                received.fetch_add(1);
              }
            }
            wg.done();
          });
        wg.wait();
        return received.load();
      },
      procs(4));
  REQUIRE(got == 2 * 100000 / 8);
}

// A sleeping goroutine's timer lives in its own stack frame. Once the timer
// function has readied it and the timer is marked not running, the
// goroutine may return from sleep on another P and reuse that frame:
// run_timers must not touch the timer after that point.
TEST_CASE("many goroutines sleeping briefly over and over", "[time]") {
  const long woke = gort::run(
      [] {
        constexpr int kGoroutines = 64, kEach = 2000;
        std::atomic<long> n{0};
        gort::WaitGroup wg;
        wg.add(kGoroutines);
        for (int w = 0; w < kGoroutines; ++w)
          gort::go([&, w] {
            for (int i = 0; i < kEach; ++i) {
              gort::sleep(std::chrono::microseconds((i * 7 + w) % 50));
              n.fetch_add(1);
            }
            wg.done();
          });
        wg.wait();
        return n.load();
      },
      procs(4));
  REQUIRE(woke == 64 * 2000);
}

// The same for a Timer's state, on the heap: whoever receives from C may
// destroy the Timer as soon as the timer function is no longer running.
TEST_CASE("a Timer destroyed right after it fires", "[time]") {
  const long fired = gort::run(
      [] {
        constexpr int kGoroutines = 16, kEach = 4000;
        std::atomic<long> n{0};
        gort::WaitGroup wg;
        wg.add(kGoroutines);
        for (int w = 0; w < kGoroutines; ++w)
          gort::go([&, w] {
            for (int i = 0; i < kEach; ++i) {
              gort::Timer t(std::chrono::microseconds((i + w) % 20));
              t.C.recv();
              n.fetch_add(1);
            }  // ~Timer frees the state
            wg.done();
          });
        wg.wait();
        return n.load();
      },
      procs(4));
  REQUIRE(fired == 16 * 4000);
}

// Like gort::go, creating a timer needs a running runtime (a P's timer
// heap to put it on); outside one it is a programming error, reported as
// std::logic_error rather than a crash. Last in this file: until that holds
// it takes the whole program down.
TEST_CASE("timers outside gort::run throw std::logic_error", "[time]") {
  REQUIRE_THROWS_AS(gort::after(1ms), std::logic_error);
  REQUIRE_THROWS_AS(gort::Timer(1ms), std::logic_error);
  REQUIRE_THROWS_AS(gort::Ticker(1ms), std::logic_error);
  REQUIRE_THROWS_AS(gort::after_func(1ms, [] {}), std::logic_error);
  REQUIRE_THROWS_AS(gort::go([] {}), std::logic_error);  // what the others should match
}
