// Channels: Go's rules, one by one.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gort/gort.hpp"
#include "support.hpp"

using gort_test::kProcCounts;
using gort_test::procs;

TEST_CASE("unbuffered channel hands values over in order", "[chan]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const auto got = gort::run(
        [] {
          auto ch = gort::make_chan<int>();
          gort::go([ch] {
            for (int i = 0; i < 1000; ++i) ch.send(i);
          });
          std::vector<int> got;
          for (int i = 0; i < 1000; ++i) got.push_back(ch.recv());
          return got;
        },
        procs(n));
    for (int i = 0; i < 1000; ++i) REQUIRE(got[size_t(i)] == i);
  }
}

// The next two run at one P too: there, 100 yields surely let the sender
// reach its send. At more Ps it may not have started yet, which the
// assertion tolerates (a send not yet begun has not returned either); the
// sender's wake-up is waited for, not given a number of yields.
TEST_CASE("unbuffered send blocks until a receiver takes the value", "[chan]") {
  for (const int n : {1, 2, 4, 8}) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          auto ch = gort::make_chan<int>();
          auto returned = gort::make_chan<int>(1);
          std::atomic<bool> sent{false};
          gort::go([&, returned] {
            ch.send(1);
            sent = true;
            returned.send(1);
          });
          for (int i = 0; i < 100; ++i) gort::yield();
          REQUIRE_FALSE(sent.load());
          REQUIRE(ch.recv() == 1);
          returned.recv();
          REQUIRE(sent.load());
        },
        procs(n));
  }
}

TEST_CASE("buffered channel: len, cap, FIFO, blocks when full", "[chan]") {
  for (const int n : {1, 2, 4, 8}) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          auto ch = gort::make_chan<std::string>(3);
          auto returned = gort::make_chan<int>(1);
          REQUIRE(ch.cap() == 3);
          REQUIRE(ch.len() == 0);
          ch.send("a");
          ch.send("b");
          ch.send("c");
          REQUIRE(ch.len() == 3);
          std::atomic<bool> fourth{false};
          gort::go([&, returned] {
            ch.send("d");
            fourth = true;
            returned.send(1);
          });
          for (int i = 0; i < 100; ++i) gort::yield();
          REQUIRE_FALSE(fourth.load());
          REQUIRE(ch.recv() == "a");
          returned.recv();
          REQUIRE(fourth.load());
          REQUIRE(ch.len() == 3);
          REQUIRE(ch.recv() == "b");
          REQUIRE(ch.recv() == "c");
          REQUIRE(ch.recv() == "d");
          REQUIRE(ch.len() == 0);
        },
        procs(n));
  }
}

TEST_CASE("a closed channel drains its buffer, then gives zero values with ok=false", "[chan]") {
  gort::run([] {
    auto ch = gort::make_chan<int>(2);
    ch.send(5);
    ch.send(6);
    ch.close();
    REQUIRE(ch.recv_ok() == std::make_pair(5, true));
    REQUIRE(ch.recv_ok() == std::make_pair(6, true));
    REQUIRE(ch.recv_ok() == std::make_pair(0, false));
    REQUIRE(ch.recv() == 0);
  });
}

TEST_CASE("close wakes every blocked receiver with ok=false", "[chan]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int woken = gort::run(
        [] {
          auto ch = gort::make_chan<int>();
          std::atomic<int> not_ok{0};
          gort::WaitGroup wg;
          wg.add(10);
          for (int i = 0; i < 10; ++i)
            gort::go([&] {
              auto [v, ok] = ch.recv_ok();
              if (!ok && v == 0) not_ok.fetch_add(1);
              wg.done();
            });
          for (int i = 0; i < 100; ++i) gort::yield();
          ch.close();
          wg.wait();
          return not_ok.load();
        },
        procs(n));
    REQUIRE(woken == 10);
  }
}

TEST_CASE("range over a channel stops when it is closed", "[chan]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    const int sum = gort::run(
        [] {
          auto ch = gort::make_chan<int>(4);
          gort::go([ch] {
            for (int i = 1; i <= 100; ++i) ch.send(i);
            ch.close();
          });
          int sum = 0;
          for (int v : ch) sum += v;
          return sum;
        },
        procs(n));
    REQUIRE(sum == 5050);
  }
}

TEST_CASE("send on a closed channel panics", "[chan]") {
  gort::run([] {
    auto ch = gort::make_chan<int>(1);
    ch.close();
    REQUIRE_THROWS_WITH(ch.send(1), "send on closed channel");
  });
}

TEST_CASE("a sender blocked when the channel closes panics", "[chan]") {
  // At one P the sender is surely parked when the channel closes; at more it
  // may be parked, mid-send or not yet started: it panics in every case.
  for (const int n : {1, 2, 4, 8}) {
    INFO("GOMAXPROCS " << n);
    const bool panicked = gort::run(
        [] {
          auto ch = gort::make_chan<int>();
          std::atomic<bool> p{false};
          gort::WaitGroup wg;
          wg.add(1);
          gort::go([&] {
            try {
              ch.send(1);
            } catch (const gort::panic_error& e) {
              p = std::string(e.what()) == "send on closed channel";
            }
            wg.done();
          });
          for (int i = 0; i < 100; ++i) gort::yield();
          ch.close();
          wg.wait();
          return p.load();
        },
        procs(n));
    REQUIRE(panicked);
  }
}

TEST_CASE("closing a closed or nil channel panics", "[chan]") {
  gort::run([] {
    auto ch = gort::make_chan<int>();
    ch.close();
    REQUIRE_THROWS_WITH(ch.close(), "close of closed channel");
    gort::chan<int> nil;
    REQUIRE(nil.is_nil());
    REQUIRE_THROWS_WITH(nil.close(), "close of nil channel");
  });
}

TEST_CASE("a nil channel blocks forever", "[chan]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          gort::chan<int> nil;
          std::atomic<int> started{0}, progress{0};
          gort::go([&] {
            started.fetch_add(1);
            nil.send(1);
            progress = 1;
          });
          gort::go([&] {
            started.fetch_add(1);
            nil.recv();
            progress = 2;
          });
          // Both reach their operation before the 1,000 yields count: with
          // more Ps than CPUs a goroutine may wait long for its M to run.
          while (started.load() != 2) gort::yield();
          for (int i = 0; i < 1000; ++i) gort::yield();
          REQUIRE(progress.load() == 0);
          REQUIRE(nil.len() == 0);
          REQUIRE(nil.cap() == 0);
        },
        procs(n));
  }
}

TEST_CASE("values move through a channel without copies", "[chan]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          auto ch = gort::make_chan<std::unique_ptr<int>>();
          gort::go([ch] { ch.send(std::make_unique<int>(9)); });
          auto p = ch.recv();
          REQUIRE(p);
          REQUIRE(*p == 9);
        },
        procs(n));
  }
}

TEST_CASE("a buffered value is released when it is received", "[chan]") {
  gort::run([] {
    auto ch = gort::make_chan<std::shared_ptr<int>>(1);
    auto value = std::make_shared<int>(1);
    ch.send(value);
    REQUIRE(value.use_count() == 2);
    ch.recv();
    REQUIRE(value.use_count() == 1);
  });
}

// A channel's ring grows toward its capacity as values wait in it (Go
// allocates all of it at make). Slots are counted by constructing them.
struct CountedSlot {
  static inline std::atomic<long> constructed{0};
  CountedSlot() { constructed.fetch_add(1, std::memory_order_relaxed); }
  explicit CountedSlot(int v) : value(v) { constructed.fetch_add(1, std::memory_order_relaxed); }
  int value = -1;
  char payload[56] = {};
};

TEST_CASE("a buffered channel holds slots for the values waiting in it, not for its capacity", "[chan]") {
  gort::run([] {
    CountedSlot::constructed = 0;
    std::vector<gort::chan<CountedSlot>> queues;
    for (int i = 0; i < 100; ++i) queues.push_back(gort::make_chan<CountedSlot>(1024));
    // At most 256 bytes of ring each (four 64-byte slots), not 1,024 slots.
    REQUIRE(CountedSlot::constructed.load() <= 100 * 4);
    const long before = CountedSlot::constructed.load();
    for (int i = 0; i < 100; ++i) queues[0].send(CountedSlot(i));
    // 100 values: the ring doubled to 128 slots (4+8+...+128 constructed),
    // plus the 100 values themselves.
    REQUIRE(CountedSlot::constructed.load() - before <= 100 + 256);
    REQUIRE(queues[0].len() == 100);
    REQUIRE(queues[0].cap() == 1024);
    for (int i = 0; i < 100; ++i) REQUIRE(queues[0].recv().value == i);
  });
}

TEST_CASE("a growing ring keeps FIFO order across wrap-around and blocks at exactly cap", "[chan]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          constexpr int kCap = 300;
          auto ch = gort::make_chan<std::shared_ptr<int>>(kCap);
          auto witness = std::make_shared<int>(0);
          int sent = 0, received = 0;
          // Interleave so that the ring wraps before each time it grows.
          for (int round = 0; round < 40; ++round) {
            for (int i = 0; i < 9 && ch.len() < kCap; ++i) ch.send(std::make_shared<int>(sent++));
            for (int i = 0; i < 2; ++i) REQUIRE(*ch.recv() == received++);
          }
          while (ch.len() < kCap) ch.send(std::make_shared<int>(sent++));
          bool refused = false;
          gort::select(gort::send(ch, witness, [] {}), gort::otherwise([&] { refused = true; }));
          REQUIRE(refused);
          REQUIRE(witness.use_count() == 1);
          // A sender parked on the full ring is served as a receiver takes the head.
          auto done = gort::make_chan<bool>();
          gort::go([ch, witness, done] {
            ch.send(witness);
            done.close();
          });
          while (received < sent) REQUIRE(*ch.recv() == received++);
          done.recv();
          REQUIRE(ch.recv() == witness);
          REQUIRE(ch.len() == 0);
          REQUIRE(witness.use_count() == 1);
        },
        procs(n));
  }
}

TEST_CASE("panic child", "[.child]") {
  if (!gort_test::in_child()) return;
  // stdout is a file here, so this line sits in stdio's buffer until the
  // process exits: an unrecovered panic must not lose it.
  std::printf("printed before the panic\n");
  gort::run([] {
    auto ch = gort::make_chan<int>();
    ch.close();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] { ch.close(); });
    wg.wait();
  });
}

TEST_CASE("an uncaught panic in a goroutine ends the process with Go's message", "[chan]") {
  const auto r = gort_test::run_child("panic child", {});
  INFO(r.err);
  REQUIRE(r.exit_status == 2);
  REQUIRE(r.err.find("panic: close of closed channel\n\ngoroutine 2 [running]") != std::string::npos);
  REQUIRE(r.out.find("printed before the panic\n") != std::string::npos);
}
