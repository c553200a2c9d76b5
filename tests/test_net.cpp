// gort::net on the netpoller: many connections, address families,
// deadlines, resets and closes.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "gort/gort.hpp"
#include "support.hpp"

using gort_test::procs;

using namespace std::chrono_literals;
namespace net = gort::net;

namespace {

// Echoes every byte back until the peer closes.
void echo(net::Conn c) {
  char buf[4096];
  try {
    for (;;) {
      const size_t n = c.read(buf, sizeof buf);
      if (n == 0) break;
      c.write(buf, n);
    }
  } catch (const net::Error&) {
  }
  c.close();
}

// An echo server whose stop() closes the listener and waits for the accept
// loop and every connection's goroutine (goroutines still running when the
// main goroutine returns would be abandoned, with their sockets).
class EchoServer {
 public:
  EchoServer(const std::string& network, const std::string& address) : ln_(net::listen(network, address)) {
    running_.add(1);
    gort::go([this] {
      try {
        for (;;) {
          net::Conn c = ln_.accept();
          running_.add(1);
          gort::go([this, c] {
            echo(c);
            running_.done();
          });
        }
      } catch (const net::Error&) {  // listener closed
      }
      running_.done();
    });
  }
  std::string addr() const { return ln_.addr(); }
  void stop() {
    ln_.close();
    running_.wait();
  }

 private:
  net::Listener ln_;
  gort::WaitGroup running_;
};

std::string payload(int id, size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = char('a' + (id * 7 + int(i)) % 26);
  return s;
}

// A connected pair over loopback: the dialled end and the accepted end.
struct Pair {
  net::Listener ln;
  net::Conn client, server;
  void close() {
    client.close();
    server.close();
    ln.close();
  }
};

Pair connected_pair() {
  Pair p{net::listen("tcp", "127.0.0.1:0"), {}, {}};
  gort::WaitGroup accepted;
  accepted.add(1);
  gort::go([&] {
    p.server = p.ln.accept();
    accepted.done();
  });
  p.client = net::dial("tcp", p.ln.addr());
  accepted.wait();
  return p;
}

bool round_trip(net::Conn& c, const std::string& msg) {
  c.write(msg);
  std::string back(msg.size(), '\0');
  return c.read_full(back.data(), back.size()) && back == msg;
}

}  // namespace

TEST_CASE("echo over 5,000 concurrent loopback connections, every byte checked", "[net]") {
  gort_test::raise_fd_limit();
#if defined(__SANITIZE_THREAD__)
  constexpr int kConns = 1000;  // TSan gives up beyond 8,128 fibers (threads)
#else
  constexpr int kConns = 5000;
#endif
  const auto r = gort::run(
      [] {
        EchoServer ln("tcp", "127.0.0.1:0");
        std::atomic<int> ok{0}, bad{0};
        std::atomic<int64_t> bytes{0};
        gort::WaitGroup connected, wg;
        connected.add(kConns);
        wg.add(kConns);
        for (int i = 0; i < kConns; ++i) {
          gort::go([&, i] {
            try {
              net::Conn c = net::dial("tcp", ln.addr());
              connected.done();
              connected.wait();  // all 5,000 open at once before any talks
              bool good = true;
              for (int round = 0; round < 3; ++round) {
                const std::string msg = payload(i + round, 100 + size_t(i % 900));
                good = good && round_trip(c, msg);
                bytes.fetch_add(int64_t(msg.size()));
              }
              (good ? ok : bad).fetch_add(1);
              c.close();
            } catch (const net::Error& e) {
              bad.fetch_add(1);
              UNSCOPED_INFO(e.what());
            }
            wg.done();
          });
        }
        wg.wait();
        ln.stop();
        return std::make_tuple(ok.load(), bad.load(), bytes.load());
      },
      procs(2));
  REQUIRE(std::get<1>(r) == 0);
  REQUIRE(std::get<0>(r) == kConns);
  REQUIRE(std::get<2>(r) > 3 * 100 * kConns);
}

TEST_CASE("IPv6 and Unix sockets", "[net]") {
  gort::run([] {
    for (auto [network, address] : {std::pair<std::string, std::string>{"tcp6", "[::1]:0"},
                                    {"tcp", "[::1]:0"},
                                    {"unix", "/tmp/gort-test-" + std::to_string(getpid()) + ".sock"},
                                    {"unix", "@gort-test-" + std::to_string(getpid())}}) {
      INFO(network << " " << address);
      EchoServer ln(network, address);
      auto c = net::dial(network, ln.addr());
      REQUIRE(round_trip(c, "hello over " + network));
      if (network != "unix") REQUIRE(c.remote_addr() == ln.addr());
      c.close();
      ln.stop();
    }
  });
}

TEST_CASE("dial resolves host names through a blocking call", "[net]") {
  gort::run([] {
    EchoServer ln("tcp4", "127.0.0.1:0");
    const std::string port = ln.addr().substr(ln.addr().rfind(':'));
    auto c = net::dial("tcp4", "localhost" + port);
    REQUIRE(round_trip(c, "by name"));
    c.close();
    ln.stop();
  });
}

TEST_CASE("a read deadline fails the read with a timeout, not early", "[net]") {
  gort::run([] {
    Pair p = connected_pair();
    net::Conn& c = p.client;
    const auto start = gort::Clock::now();
    c.set_read_deadline(start + 30ms);
    char b;
    try {
      c.read(&b, 1);
      FAIL("read returned without data");
    } catch (const net::Error& e) {
      REQUIRE(e.timeout());
      REQUIRE(std::string(e.what()).find("i/o timeout") != std::string::npos);
    }
    REQUIRE(gort::Clock::now() - start >= 30ms);
    // The deadline stays in force, and clearing it makes reads work again.
    REQUIRE_THROWS_AS(c.read(&b, 1), net::Error);
    c.set_read_deadline(gort::Time{});
    p.server.write("x");
    REQUIRE(c.read(&b, 1) == 1);
    REQUIRE(b == 'x');
    p.close();
  });
}

TEST_CASE("a write deadline fires when the peer stops reading", "[net]") {
  gort::run([] {
    Pair p = connected_pair();  // the server end never reads
    net::Conn& c = p.client;
    c.set_write_deadline(gort::Clock::now() + 50ms);
    const std::string chunk(1 << 20, 'z');
    bool timed_out = false;
    try {
      for (int i = 0; i < 1000; ++i) c.write(chunk);
    } catch (const net::Error& e) {
      timed_out = e.timeout();
    }
    REQUIRE(timed_out);
    p.close();
  });
}

TEST_CASE("a reset from the peer is a clear error", "[net]") {
  gort::run([] {
    auto ln = net::listen("tcp4", "127.0.0.1:0");
    const int port = std::stoi(ln.addr().substr(ln.addr().rfind(':') + 1));
    // A plain thread plays the rude peer: connect, then close with SO_LINGER 0.
    std::thread peer([port] {
      const int s = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(uint16_t(port));
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        const linger lg{1, 0};
        setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      }
      close(s);
    });
    auto c = ln.accept();
    peer.join();
    char buf[16];
    try {
      const size_t n = c.read(buf, sizeof buf);
      FAIL("read returned " << n);
    } catch (const net::Error& e) {
      REQUIRE(std::string(e.what()).find("connection reset by peer") != std::string::npos);
      REQUIRE(std::string(e.what()).rfind("read tcp4 127.0.0.1:", 0) == 0);
      REQUIRE_FALSE(e.timeout());
    }
    c.close();
    ln.close();
  });
}

TEST_CASE("close wakes a goroutine blocked on the connection", "[net]") {
  const std::string err = gort::run([] {
    Pair p = connected_pair();
    net::Conn& c = p.client;
    std::string err;
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      char b;
      try {
        c.read(&b, 1);
      } catch (const net::Error& e) {
        err = e.what();
      }
      wg.done();
    });
    gort::sleep(5ms);
    c.close();
    wg.wait();
    p.close();
    return err;
  });
  REQUIRE(err.find("use of closed network connection") != std::string::npos);
}

TEST_CASE("dialing a closed port is refused cleanly", "[net]") {
  gort::run([] {
    auto ln = net::listen("tcp", "127.0.0.1:0");
    const std::string addr = ln.addr();
    ln.close();
    REQUIRE_THROWS_WITH(net::dial("tcp", addr), Catch::Contains("connection refused"));
    REQUIRE_THROWS_WITH(net::dial("tcp", "127.0.0.1"), Catch::Contains("missing port"));
    REQUIRE_THROWS_WITH(net::dial("udp", "127.0.0.1:1"), Catch::Contains("unknown network"));
  });
}

// Between the network poller's harvest of readied goroutines and their
// landing on a run queue, every P can be idle, no queue hold them and no
// goroutine wait on a socket any more: the deadlock check (sysmon's, which
// runs whenever every P is idle) took that moment for a deadlock and ended
// the process, "all goroutines are asleep" with two goroutines runnable.
// A loopback connection made by two goroutines, one accepting and one
// dialling, makes that moment: both wait on the poller with every P idle,
// and the handshake readies both in one harvest.
TEST_CASE("goroutines readied by the network poller are never taken for a deadlock", "[net]") {
  for (int n : {1, 2, 4, 8}) {
    INFO("GOMAXPROCS=" << n);
    const int made = gort::run(
        [] {
          int made = 0;
          for (int i = 0; i < 2000; ++i) {
            Pair p = connected_pair();
            made += bool(p.client) && bool(p.server);
            p.close();
          }
          return made;
        },
        procs(n));
    REQUIRE(made == 2000);
  }
}
