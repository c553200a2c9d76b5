// Channels: Go's rules, one by one.
#include <atomic>
#include <cstdio>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "gort/gort.hpp"
#include "support.hpp"

using gort_test::procs;

TEST_CASE("unbuffered channel hands values over in order", "[chan]") {
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
      procs(2));
  for (int i = 0; i < 1000; ++i) REQUIRE(got[size_t(i)] == i);
}

TEST_CASE("unbuffered send blocks until a receiver takes the value", "[chan]") {
  gort::run(
      [] {
        auto ch = gort::make_chan<int>();
        std::atomic<bool> sent{false};
        gort::go([&] {
          ch.send(1);
          sent = true;
        });
        for (int i = 0; i < 100; ++i) gort::yield();
        REQUIRE_FALSE(sent.load());
        REQUIRE(ch.recv() == 1);
        for (int i = 0; i < 100 && !sent; ++i) gort::yield();
        REQUIRE(sent.load());
      },
      procs(1));
}

TEST_CASE("buffered channel: len, cap, FIFO, blocks when full", "[chan]") {
  gort::run(
      [] {
        auto ch = gort::make_chan<std::string>(3);
        REQUIRE(ch.cap() == 3);
        REQUIRE(ch.len() == 0);
        ch.send("a");
        ch.send("b");
        ch.send("c");
        REQUIRE(ch.len() == 3);
        std::atomic<bool> fourth{false};
        gort::go([&] {
          ch.send("d");
          fourth = true;
        });
        for (int i = 0; i < 100; ++i) gort::yield();
        REQUIRE_FALSE(fourth.load());
        REQUIRE(ch.recv() == "a");
        for (int i = 0; i < 100 && !fourth; ++i) gort::yield();
        REQUIRE(fourth.load());
        REQUIRE(ch.recv() == "b");
        REQUIRE(ch.recv() == "c");
        REQUIRE(ch.recv() == "d");
        REQUIRE(ch.len() == 0);
      },
      procs(1));
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
      procs(2));
  REQUIRE(woken == 10);
}

TEST_CASE("range over a channel stops when it is closed", "[chan]") {
  const int sum = gort::run([] {
    auto ch = gort::make_chan<int>(4);
    gort::go([ch] {
      for (int i = 1; i <= 100; ++i) ch.send(i);
      ch.close();
    });
    int sum = 0;
    for (int v : ch) sum += v;
    return sum;
  });
  REQUIRE(sum == 5050);
}

TEST_CASE("send on a closed channel panics", "[chan]") {
  gort::run([] {
    auto ch = gort::make_chan<int>(1);
    ch.close();
    REQUIRE_THROWS_WITH(ch.send(1), "send on closed channel");
  });
}

TEST_CASE("a sender blocked when the channel closes panics", "[chan]") {
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
      procs(1));
  REQUIRE(panicked);
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
  gort::run(
      [] {
        gort::chan<int> nil;
        std::atomic<int> progress{0};
        gort::go([&] {
          progress = 1;
          nil.send(1);
          progress = 2;
        });
        gort::go([&] {
          nil.recv();
          progress = 3;
        });
        for (int i = 0; i < 1000; ++i) gort::yield();
        REQUIRE(progress.load() == 1);
        REQUIRE(nil.len() == 0);
        REQUIRE(nil.cap() == 0);
      },
      procs(2));
}

TEST_CASE("values move through a channel without copies", "[chan]") {
  gort::run([] {
    auto ch = gort::make_chan<std::unique_ptr<int>>();
    gort::go([ch] { ch.send(std::make_unique<int>(9)); });
    auto p = ch.recv();
    REQUIRE(p);
    REQUIRE(*p == 9);
  });
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
