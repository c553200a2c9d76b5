// echo: N client goroutines each do M request/response round trips of 64
// bytes with an echo server in the same process, over loopback TCP.
// Figures: round-trip latency percentiles and round trips per second.
#include <sys/resource.h>

#include <algorithm>
#include <vector>

#include "common.hpp"
#include "gort/gort.hpp"

namespace bench {

int echo(const Args& a) {
  const int conns = int(a.n(1000));
  const int rounds = int(a.at(1, 100));
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  struct Result {
    std::vector<int64_t> rtts;
    int64_t elapsed_ns;
  };
  const Result r = gort::run([conns, rounds] {
    auto ln = gort::net::listen("tcp", "127.0.0.1:0");
    gort::WaitGroup handlers;
    handlers.add(1);
    gort::go([&] {
      try {
        for (;;) {
          gort::net::Conn c = ln.accept();
          handlers.add(1);
          gort::go([&handlers, c]() mutable {
            char buf[64];
            try {
              while (c.read_full(buf, sizeof buf)) c.write(buf, sizeof buf);
            } catch (const gort::net::Error&) {
            }
            c.close();
            handlers.done();
          });
        }
      } catch (const gort::net::Error&) {
      }
      handlers.done();
    });

    std::vector<std::vector<int64_t>> per_client(static_cast<size_t>(conns));
    gort::WaitGroup ready, done;
    ready.add(conns);
    done.add(conns);
    const std::string addr = ln.addr();
    int64_t start = 0;
    for (int i = 0; i < conns; ++i) {
      gort::go([&, i] {
        gort::net::Conn c = gort::net::dial("tcp", addr);
        ready.done();
        ready.wait();
        char msg[64] = {}, back[64];
        auto& rtts = per_client[size_t(i)];
        rtts.reserve(size_t(rounds));
        for (int k = 0; k < rounds; ++k) {
          msg[0] = char(k);
          const int64_t t0 = now_ns();
          c.write(msg, sizeof msg);
          c.read_full(back, sizeof back);
          rtts.push_back(now_ns() - t0);
        }
        c.close();
        done.done();
      });
    }
    ready.wait();
    progress("echo: %d clients connected; %d round trips each", conns, rounds);
    start = now_ns();
    done.wait();
    const int64_t elapsed = now_ns() - start;
    ln.close();
    handlers.wait();
    Result res{{}, elapsed};
    for (auto& v : per_client) res.rtts.insert(res.rtts.end(), v.begin(), v.end());
    return res;
  });
  std::vector<int64_t> rtts = r.rtts;
  std::sort(rtts.begin(), rtts.end());
  auto pct = [&](double p) { return double(rtts[size_t(p * double(rtts.size() - 1))]) / 1000.0; };
  std::printf("bench=echo impl=gort conns=%d rounds=%d p50_us=%.1f p99_us=%.1f rtt_per_s=%.0f\n", conns, rounds,
              pct(0.50), pct(0.99), double(rtts.size()) / (double(r.elapsed_ns) / 1e9));
  return 0;
}

}  // namespace bench
