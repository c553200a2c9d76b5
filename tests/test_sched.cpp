// sched/: spawning, nesting, spreading over Ps, yielding, reuse of G
// records and stacks, run()'s contract.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gort/gort.hpp"
#include "stack/pool.hpp"
#include "stack/space.hpp"
#include "support.hpp"

using gort_test::kProcCounts;
using gort_test::procs;

namespace {

struct Leaf {
  int value = 0;
};

// A collection and a little garbage: what an allocating program does.
void gc_collect_and_allocate() {
  for (int i = 0; i < 100; ++i) gort::gc::make<Leaf>();
  gort::gc::collect();
}

}  // namespace

TEST_CASE("run returns the main goroutine's result", "[sched]") {
  REQUIRE(gort::run([] { return 42; }, procs(2)) == 42);
  REQUIRE(gort::run([] { return std::string("twice"); }, procs(1)) == "twice");
  for (const int n : kProcCounts) REQUIRE(gort::run([] { return gort::gomaxprocs(); }, procs(n)) == n);
}

TEST_CASE("an exception escaping main is rethrown by run", "[sched]") {
  REQUIRE_THROWS_WITH(gort::run([]() -> int { throw std::runtime_error("boom"); }, procs(2)), "boom");
  // The runtime is usable again afterwards.
  REQUIRE(gort::run([] { return gort::gomaxprocs(); }, procs(2)) == 2);
}

TEST_CASE("run inside run and go outside run are errors", "[sched]") {
  REQUIRE_THROWS_AS(gort::go([] {}), std::logic_error);
  gort::run([] { REQUIRE_THROWS_AS(gort::run([] {}), std::logic_error); }, procs(1));
}

TEST_CASE("a million goroutines all run", "[sched][big]") {
  constexpr int kN = 1000000;
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int64_t counted = gort::run(
        [] {
          std::atomic<int64_t> counter{0};
          gort::WaitGroup wg;
          wg.add(kN);
          for (int i = 0; i < kN; ++i)
            gort::go([&] {
              counter.fetch_add(1, std::memory_order_relaxed);
              wg.done();
            });
          wg.wait();
          return counter.load();
        },
        procs(n));
    REQUIRE(counted == kN);
  }
}

TEST_CASE("nested spawning builds the whole tree", "[sched]") {
  // Each goroutine above the deepest level starts 4 children:
  // 1 + 4 + ... + 4^kDeepest nodes. TSan creates and destroys a fiber per
  // goroutine, slowly: a tree a quarter the size there.
#if defined(__SANITIZE_THREAD__)
  static constexpr int kDeepest = 6;
#else
  static constexpr int kDeepest = 7;
#endif
  struct Tree {
    static void node(int depth, std::atomic<int>* count, gort::WaitGroup* wg) {
      count->fetch_add(1);
      if (depth < kDeepest) {
        wg->add(4);
        for (int i = 0; i < 4; ++i) gort::go(&Tree::node, depth + 1, count, wg);
      }
      wg->done();
    }
  };
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int nodes = gort::run(
        [] {
          std::atomic<int> count{0};
          gort::WaitGroup wg;
          wg.add(1);
          gort::go(&Tree::node, 0, &count, &wg);
          wg.wait();
          return count.load();
        },
        procs(n));
    REQUIRE(nodes == ((1 << (2 * kDeepest + 2)) - 1) / 3);  // (4^(kDeepest + 1) - 1) / 3: 21,845 at 7
  }
}

namespace {

// Ps that ran at least 1% of `spawned` goroutines: a real share, not one
// or two.
int real_shares(const std::vector<uint64_t>& per_p, uint64_t spawned) {
  int n = 0;
  for (const uint64_t ran : per_p) n += ran >= spawned / 100;
  return n;
}

}  // namespace

TEST_CASE("work spreads over the Ps", "[sched]") {
  // Batches of 2,000 goroutines of busy work until at least two Ps have run
  // a real share of them (at two Ps, both), 20 batches at most. On an idle
  // machine the first batch is enough. On a loaded one a batch can be over
  // before the other Ps' Ms run at all: they are started by the M factory,
  // a thread that must itself wait for a CPU, and then wait for one in
  // turn. With more Ps than CPUs some Ps may never run anything.
  constexpr int kN = 2000;
  constexpr uint64_t kMaxSpawned = 20 * kN;
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const auto [per_p, spawned] = gort::run(
        [] {
          const auto before = gort::sched_stats().executed_per_p;
          std::vector<uint64_t> ran;
          uint64_t spawned = 0;
          do {
            gort::WaitGroup wg;
            wg.add(kN);
            for (int i = 0; i < kN; ++i)
              gort::go([&] {
                volatile uint64_t x = 0;
                for (int k = 0; k < 20000; ++k) x = x + k;
                wg.done();
              });
            wg.wait();
            spawned += kN;
            ran = gort::sched_stats().executed_per_p;
            for (size_t i = 0; i < ran.size(); ++i) ran[i] -= before[i];
          } while (real_shares(ran, spawned) < 2 && spawned < kMaxSpawned);
          return std::make_pair(ran, spawned);
        },
        procs(n));
    REQUIRE(per_p.size() == size_t(n));
    std::string shares;
    uint64_t total = 0;
    for (const uint64_t ran : per_p) {
      shares.append(" ").append(std::to_string(ran));
      total += ran;
    }
    INFO(spawned << " goroutines; run per P:" << shares);
    REQUIRE(total >= spawned);  // and more: main's own runs count too
    REQUIRE(real_shares(per_p, spawned) >= 2);
  }
}

TEST_CASE("yield lets the other goroutine run", "[sched]") {
  const auto trace = gort::run(
      [] {
        std::vector<char> order;
        gort::WaitGroup wg;
        wg.add(2);
        for (char who : {'a', 'b'})
          gort::go([&, who] {
            for (int i = 0; i < 5; ++i) {
              order.push_back(who);
              gort::yield();
            }
            wg.done();
          });
        wg.wait();
        return std::string(order.begin(), order.end());
      },
      procs(1));
  // One P: every yield hands the P to the other goroutine.
  REQUIRE((trace == "ababababab" || trace == "bababababa"));
}

TEST_CASE("goroutine ids are unique and 0 outside goroutines", "[sched]") {
  REQUIRE(gort::goid() == 0);
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const auto ids = gort::run(
        [] {
          std::vector<uint64_t> ids(1000);
          gort::WaitGroup wg;
          wg.add(1000);
          for (int i = 0; i < 1000; ++i)
            gort::go([&, i] {
              ids[size_t(i)] = gort::goid();
              wg.done();
            });
          wg.wait();
          ids.push_back(gort::goid());
          return ids;
        },
        procs(n));
    REQUIRE(ids.back() == 1);  // main
    std::set<uint64_t> unique(ids.begin(), ids.end());
    REQUIRE(unique.size() == ids.size());
    REQUIRE(unique.count(0) == 0);
  }
}

TEST_CASE("stacks and G records are reused across generations", "[sched][big]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [n] {
          auto generation = [] {
            constexpr int kLive = 5000;
            gort::WaitGroup started, release, finished;
            started.add(kLive);
            release.add(1);
            finished.add(kLive);
            for (int i = 0; i < kLive; ++i)
              gort::go([&] {
                started.done();
                release.wait();
                finished.done();
              });
            started.wait();
            REQUIRE(gort::num_goroutine() == kLive + 1);
            release.done();
            finished.wait();
            // The last goroutines may still be between done() and their exit.
            for (int i = 0; i < 10000000 && gort::num_goroutine() != 1; ++i) gort::yield();
            REQUIRE(gort::num_goroutine() == 1);
          };
          generation();
          const uint64_t slots_after_first = gort::stack::Space::get().slots_carved();
          for (int gen = 0; gen < 20; ++gen) generation();
          const uint64_t slots_after_all = gort::stack::Space::get().slots_carved();
          INFO("slots after 1 generation: " << slots_after_first << ", after 21: " << slots_after_all);
          // Twenty more generations of 5,000 live goroutines reuse the same
          // slots: at most a cache's worth of new ones per P.
          REQUIRE(slots_after_all - slots_after_first <= uint64_t(n) * gort::stack::Cache::kCapacity);
        },
        procs(n));
  }
}

TEST_CASE("goroutines can start goroutines from a thread outside the runtime", "[sched]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int got = gort::run(
        [] {
          std::atomic<int> n{0};
          gort::WaitGroup wg;
          wg.add(100);
          std::thread t([&] {
            for (int i = 0; i < 100; ++i)
              gort::go([&] {
                n.fetch_add(1);
                wg.done();
              });
          });
          wg.wait();
          t.join();
          return n.load();
        },
        procs(n));
    REQUIRE(got == 100);
  }
}

// ---- deadlock detection (Go's checkdead) ----

TEST_CASE("deadlock child", "[.child]") {
  if (!gort_test::in_child()) return;
  const std::string kind = std::getenv("DEADLOCK_KIND");
  gort::run([&] {
    if (kind == "chan") {
      gort::make_chan<int>().recv();
    } else if (kind == "nil chan") {
      gort::chan<int>().send(1);
    } else if (kind == "select") {
      gort::select();
    } else if (kind == "waitgroup") {
      gort::WaitGroup wg;
      wg.add(1);
      wg.wait();
    } else if (kind == "mutex") {
      gort::Mutex mu;
      mu.lock();
      mu.lock();
    } else if (kind == "two goroutines") {
      auto a = gort::make_chan<int>(), b = gort::make_chan<int>();
      gort::go([=] {
        a.recv();
        b.send(1);
      });
      b.recv();
      a.send(1);
    }
  });
}

TEST_CASE("when every goroutine is blocked for good the process dies with Go's deadlock error", "[sched]") {
  const std::map<std::string, std::string> reason = {
      {"chan", "[chan receive]"},        {"nil chan", "[chan send (nil chan)]"},
      {"select", "[select (no cases)]"}, {"waitgroup", "[sync.WaitGroup.Wait]"},
      {"mutex", "[sync.Mutex.Lock]"},    {"two goroutines", "[chan receive]"},
  };
  // More Ps mean more Ms that must all be found idle before the verdict.
  for (const int n : kProcCounts) {
    for (const auto& [kind, wait] : reason) {
      const auto r =
          gort_test::run_child("deadlock child", {{"DEADLOCK_KIND", kind}, {"GOMAXPROCS", std::to_string(n)}});
      INFO("GOMAXPROCS " << n << ", " << kind << ":\n" << r.err);
      REQUIRE(r.exit_status == 2);
      REQUIRE(r.err.find("fatal error: all goroutines are asleep - deadlock!\n") != std::string::npos);
      REQUIRE(r.err.find("goroutine 1 " + wait + ":") != std::string::npos);
    }
  }
}

TEST_CASE("a goroutine woken by a thread outside the runtime is not a deadlock", "[sched]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int got = gort::run(
        [] {
          auto ch = gort::make_chan<int>(1);
          std::thread t([ch] {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            ch.send(42);  // a buffered send never blocks: allowed from any thread
          });
          const int v = ch.recv();
          t.join();
          return v;
        },
        procs(n));
    REQUIRE(got == 42);
  }
}

TEST_CASE("sleepers and timers and blocking calls are not a deadlock", "[sched]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int got = gort::run(
        [] {
          auto ch = gort::make_chan<int>();
          gort::go([ch] {
            gort::sleep(std::chrono::milliseconds(50));
            gort::blocking([] { ::usleep(50000); });
            ch.send(1);
          });
          return ch.recv();
        },
        procs(n));
    REQUIRE(got == 1);
  }
}

// ---- main returns: gort::run returns, whatever the other goroutines do ----

TEST_CASE("main returns child", "[.child]") {
  if (!gort_test::in_child()) return;
  const std::string stuck = std::getenv("STUCK");
  std::atomic<bool> started{false};
  const gort::Config from_env;  // GOMAXPROCS, set by the parent
  const int first = gort::run(
      [&] {
        gort::go([&] {
          started = true;
          if (stuck == "spinning") {
            // No safe point, ever. (An atomic, because ThreadSanitizer
            // delivers signals only at the operations it instruments.)
            std::atomic<uint64_t> n{0};
            for (;;) n.fetch_add(1, std::memory_order_relaxed);
          } else if (stuck == "safe points") {
            for (;;) gort::safepoint();
          } else if (stuck == "collecting") {
            for (;;) gc_collect_and_allocate();
          } else if (stuck == "blocking") {
            gort::blocking([] { ::usleep(300000); });
          }
        });
        if (stuck == "collecting")
          gort::go([] {
            for (;;) gc_collect_and_allocate();
          });
        while (!started) gort::yield();
        gort::sleep(std::chrono::milliseconds(20));
        return 7;
      },
      from_env);
  std::printf("first=%d\n", first);
  std::fflush(stdout);
  // The runtime starts again in the same process, and what was left behind
  // (a blocking call that returns during this run, included) stays out of it.
  const int second = gort::run(
      [] {
        std::atomic<int> n{0};
        gort::WaitGroup wg;
        for (int i = 0; i < 100; ++i) {
          wg.add(1);
          gort::go([&] {
            gort::sleep(std::chrono::milliseconds(5));
            n.fetch_add(1);
            wg.done();
          });
        }
        wg.wait();
        for (int i = 0; i < 50; ++i) {
          gc_collect_and_allocate();
          gort::sleep(std::chrono::milliseconds(10));
        }
        return n.load();
      },
      from_env);
  std::printf("second=%d\n", second);
}

TEST_CASE("when main returns gort::run returns whatever other goroutines are doing", "[sched]") {
  // The child's runs take their P count from GOMAXPROCS.
  for (const int n : kProcCounts) {
    for (const char* stuck : {"spinning", "safe points", "collecting", "blocking"}) {
      const auto r = gort_test::run_child(
          "main returns child",
          {{"STUCK", stuck}, {"GOMAXPROCS", std::to_string(n)}, {"ASAN_OPTIONS", "detect_leaks=0"}});
      INFO("GOMAXPROCS " << n << ", " << stuck << ":\n" << r.err);
      REQUIRE(r.signal == 0);
      REQUIRE(r.exit_status == 0);
      REQUIRE(r.out.find("first=7\nsecond=100\n") != std::string::npos);
    }
  }
}

// Two goroutines that ready each other through runnext (a channel ping-pong
// on one P) must leave a turn to a goroutine queued behind them in the
// P's ring: every 61st schedule takes the ring first. Without it the
// queued goroutine waited for ever (allocating goroutines starved
// gc::collect's caller this way in test_memstats).
TEST_CASE("runnext starvation child", "[.child]") {
  if (!gort_test::in_child()) return;
  alarm(30);  // a starved goroutine never runs: the parent sees a signal
  gort::run(
      [] {
        std::atomic<bool> stop{false};
        auto ping = gort::make_chan<int>(), pong = gort::make_chan<int>();
        gort::WaitGroup wg;
        wg.add(3);
        gort::go([&] {
          for (int i = 0; !stop.load(); ++i) {
            // Started once the pair is in full swing: the next hand-off
            // takes runnext from it, and it waits in the run queue.
            if (i == 100)
              gort::go([&] {
                stop = true;
                wg.done();
              });
            ping.send(1);
            pong.recv();
          }
          ping.close();
          wg.done();
        });
        gort::go([&] {
          for (;;) {
            auto [v, ok] = ping.recv_ok();
            if (!ok) break;
            pong.send(v);
          }
          wg.done();
        });
        wg.wait();
        std::printf("queued goroutine ran\n");
      },
      procs(1));
}

TEST_CASE("goroutines readying each other through runnext do not starve the run queue", "[sched]") {
  const auto r = gort_test::run_child("runnext starvation child", {});
  INFO(r.out << r.err);
  REQUIRE(r.signal == 0);
  REQUIRE(r.exit_status == 0);
  REQUIRE(r.out.find("queued goroutine ran") != std::string::npos);
}
