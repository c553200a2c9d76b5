// select: readiness, default, fairness, blocking on many channels, and a
// stress test whose totals must balance exactly.
#include <atomic>
#include <catch2/catch.hpp>
#include <vector>

#include "gort/gort.hpp"
#include "support.hpp"

using gort_test::kProcCounts;
using gort_test::procs;

TEST_CASE("select takes the ready case", "[select]") {
  gort::run([] {
    auto a = gort::make_chan<int>(1);
    auto b = gort::make_chan<int>(1);
    b.send(7);
    int got = 0;
    const int i = gort::select(gort::recv(a, [&](int v) { got = v; }), gort::recv(b, [&](int v) { got = v * 10; }));
    REQUIRE(i == 1);
    REQUIRE(got == 70);
  });
}

TEST_CASE("select with default does not block", "[select]") {
  gort::run([] {
    auto a = gort::make_chan<int>();
    bool fell_through = false;
    const int i = gort::select(gort::recv(a, [](int) {}), gort::otherwise([&] { fell_through = true; }));
    REQUIRE(i == -1);
    REQUIRE(fell_through);
    // A send with no receiver and no room also falls through.
    const int j = gort::select(gort::send(a, 1), gort::otherwise([] {}));
    REQUIRE(j == -1);
  });
}

TEST_CASE("select chooses among ready cases at random", "[select]") {
  const auto counts = gort::run([] {
    auto a = gort::make_chan<int>(1);
    auto b = gort::make_chan<int>(1);
    std::vector<int> counts(2);
    for (int i = 0; i < 10000; ++i) {
      a.send(0);
      b.send(1);
      gort::select(gort::recv(a, [&](int v) { counts[size_t(v)]++; }),
                   gort::recv(b, [&](int v) { counts[size_t(v)]++; }));
      // Drain whichever is left.
      gort::select(gort::recv(a), gort::recv(b));
    }
    return counts;
  });
  // Fair coin over 10,000 throws: 4,500..5,500 is > 20 standard deviations wide.
  REQUIRE(counts[0] > 4500);
  REQUIRE(counts[1] > 4500);
}

TEST_CASE("a blocked select wakes on whichever channel acts, and only once", "[select]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const auto result = gort::run(
        [] {
          auto a = gort::make_chan<int>();
          auto b = gort::make_chan<int>();
          auto c = gort::make_chan<int>();
          std::atomic<int> which{-1}, value{0};
          gort::WaitGroup wg;
          wg.add(1);
          gort::go([&] {
            which = gort::select(gort::recv(a, [&](int v) { value = v; }), gort::recv(b, [&](int v) { value = v; }),
                                 gort::recv(c, [&](int v) { value = v; }));
            wg.done();
          });
          for (int i = 0; i < 100; ++i) gort::yield();
          b.send(42);
          wg.wait();
          // The losing cases were unlinked: a plain receive on a now gets a
          // fresh sender, not the finished select.
          gort::go([a] { a.send(5); });
          const int later = a.recv();
          return std::vector<int>{which.load(), value.load(), later};
        },
        procs(n));
    REQUIRE(result == std::vector<int>{1, 42, 5});
  }
}

TEST_CASE("select send case delivers to a parked receiver", "[select]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int got = gort::run(
        [] {
          auto ch = gort::make_chan<int>();
          std::atomic<int> got{0};
          gort::WaitGroup wg;
          wg.add(1);
          gort::go([&] {
            got = ch.recv();
            wg.done();
          });
          gort::yield();
          bool sent = false;
          gort::select(gort::send(ch, 11, [&] { sent = true; }));
          REQUIRE(sent);
          wg.wait();
          return got.load();
        },
        procs(n));
    REQUIRE(got == 11);
  }
}

TEST_CASE("select sees a closed channel", "[select]") {
  gort::run([] {
    auto ch = gort::make_chan<int>();
    ch.close();
    bool ok = true;
    gort::select(gort::recv(ch, [&](int v, bool k) { ok = k || v != 0; }));
    REQUIRE_FALSE(ok);
    REQUIRE_THROWS_WITH(gort::select(gort::send(ch, 1)), "send on closed channel");
  });
}

TEST_CASE("a select with only nil channels and a default takes the default", "[select]") {
  gort::run([] {
    gort::chan<int> nil;
    const int i = gort::select(gort::recv(nil), gort::send(nil, 1), gort::otherwise([] {}));
    REQUIRE(i == -1);
  });
}

TEST_CASE("Select handles a number of cases known at run time", "[select]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int total = gort::run(
        [] {
          std::vector<gort::chan<int>> chans;
          for (int i = 0; i < 50; ++i) chans.push_back(gort::make_chan<int>());
          gort::WaitGroup senders;
          senders.add(50);
          for (int i = 0; i < 50; ++i)
            gort::go([ch = chans[size_t(i)], i, &senders] {
              ch.send(i);
              senders.done();
            });
          int total = 0;
          int value = 0;
          gort::Select sel;
          for (auto& ch : chans) sel.recv(ch, [&](int v) { value = v; });
          for (int k = 0; k < 50; ++k) {
            sel.wait();
            total += value;
          }
          REQUIRE(sel.poll() == -1);
          senders.wait();  // goroutines alive when main returns are abandoned
          return total;
        },
        procs(n));
    REQUIRE(total == 50 * 49 / 2);
  }
}

TEST_CASE("10,000 goroutines mixing sends, receives and selects balance exactly", "[select][stress][big]") {
  // Each worker sends `kOps` values picked from its id into random shared
  // channels (plain sends or select sends) and receives `kOps` values (plain
  // receives or selects over two channels). Every value sent is received
  // once: the sums and counts on both sides must match.
  constexpr int kWorkers = 10000;
  constexpr int kOps = 20;
  constexpr int kChans = 16;
  struct Totals {
    int64_t sent_sum, recv_sum, sent_n, recv_n;
  };
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const Totals t = gort::run(
        [] {
          std::vector<gort::chan<int64_t>> chans;
          for (int i = 0; i < kChans; ++i) chans.push_back(gort::make_chan<int64_t>(size_t(i % 3)));
          std::atomic<int64_t> sent_sum{0}, recv_sum{0}, sent_n{0}, recv_n{0};
          gort::WaitGroup wg;
          wg.add(kWorkers * 2);
          for (int w = 0; w < kWorkers; ++w) {
            gort::go([&, w] {
              uint32_t r = uint32_t(w) * 2654435761u + 1;
              for (int k = 0; k < kOps; ++k) {
                r = r * 1664525u + 1013904223u;
                const int64_t v = int64_t(w) * kOps + k;
                auto& ch = chans[(r >> 8) % kChans];
                if (r & 1) {
                  ch.send(v);
                } else {
                  auto& other = chans[(r >> 16) % kChans];
                  gort::select(gort::send(ch, v), gort::send(other, v));
                }
                sent_sum.fetch_add(v);
                sent_n.fetch_add(1);
              }
              wg.done();
            });
            gort::go([&, w] {
              uint32_t r = uint32_t(w) * 40503u + 7;
              for (int k = 0; k < kOps; ++k) {
                r = r * 1664525u + 1013904223u;
                int64_t v = 0;
                // Receive from any channel: values are routed at random, so a
                // receiver must not insist on one channel.
                gort::Select sel;
                for (auto& ch : chans) sel.recv(ch, [&](int64_t x) { v = x; });
                if (r & 1) {
                  sel.wait();
                } else {
                  auto& a = chans[(r >> 8) % kChans];
                  auto& b = chans[(r >> 16) % kChans];
                  const int i = gort::select(gort::recv(a, [&](int64_t x) { v = x; }),
                                             gort::recv(b, [&](int64_t x) { v = x; }), gort::otherwise([] {}));
                  if (i < 0) sel.wait();
                }
                recv_sum.fetch_add(v);
                recv_n.fetch_add(1);
              }
              wg.done();
            });
          }
          wg.wait();
          return Totals{sent_sum.load(), recv_sum.load(), sent_n.load(), recv_n.load()};
        },
        procs(n));
    REQUIRE(t.sent_n == int64_t(kWorkers) * kOps);
    REQUIRE(t.recv_n == t.sent_n);
    REQUIRE(t.recv_sum == t.sent_sum);
    REQUIRE(t.sent_sum == (int64_t(kWorkers) * kOps - 1) * int64_t(kWorkers) * kOps / 2);
  }
}
