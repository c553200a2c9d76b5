// gort-chatload: N IRC clients across C channels, S of them sending R
// messages a second in all, open loop: each message carries the time it
// was due, as wrk2 stamps requests, so a stalled server shows as latency
// instead of as fewer messages sent. Every delivery's latency goes into a
// histogram; every lost or duplicated delivery is counted, per sender, from
// the sequence numbers. Prints one key=value line; progress goes to stderr.
//
//   gort-chatload -inproc [flags]            server in this process, users over pipe_conn
//   gort-chatload -addr host:port [flags]    a gort-chatd (or Go twin) over TCP
// flags: -conns N -channels C -senders S -rate R (messages/s) -duration seconds
//        -server-pid PID (TCP: whose RSS growth to report per connection)
// rss_per_conn_kb is the growth of RSS from before the first connection to
// the end, over the connections; in-process it covers server and users both.
// gc_pause_max_us and gcs (in-process only) cover the whole run, connecting
// included: that is where the heap and the goroutines grow.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <unistd.h>
#include <vector>

#include "gort/gort.hpp"
#include "histogram.hpp"
#include "hub.hpp"
#include "pipe_conn.hpp"
#include "session.hpp"
#include "tcp_conn.hpp"

namespace {

struct Flags {
  std::string addr;
  bool inproc = false;
  int conns = 1000;
  int channels = 10;
  int senders = 10;
  double rate = 100;
  double duration = 10;
  long server_pid = 0;
};

int usage() {
  std::fprintf(stderr,
               "usage: gort-chatload (-inproc | -addr host:port) [-conns N] [-channels C] [-senders S] "
               "[-rate msgs/s] [-duration s] [-server-pid PID]\n");
  return 2;
}

int64_t now_ns() { return std::chrono::duration_cast<std::chrono::nanoseconds>(gort::Clock::now().time_since_epoch()).count(); }

int64_t rss_bytes(long pid) {
  std::ifstream statm(pid ? "/proc/" + std::to_string(pid) + "/statm" : std::string("/proc/self/statm"));
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

// What every client's reader adds to.
struct Totals {
  chat::Histogram latency_us;
  std::atomic<uint64_t> delivered{0}, duplicated{0}, lost{0}, joined{0};
  std::atomic<int64_t> last_delivery_ns{0};
};

// Reads one client's lines until its connection ends: answers PING, counts
// the 366 that ends its JOIN, and checks each PRIVMSG "seq SENDER K STAMP"
// against the last K seen from that sender (a channel delivers in order).
// Only the senders of its own channel (s % channels == channel) can reach
// it; a line from any other is a delivery that should not have happened,
// counted with the duplicates. Its memory counts in the in-process
// figure, so it keeps little: a line's worth of stack, a buffer that goes
// when it empties, one sequence number per sender of its channel.
void read_client(chat::ConnPtr conn, int channel, int channels, int senders, Totals* t) {
  std::vector<int64_t> last(static_cast<size_t>((senders + channels - 1) / channels), -1);
  std::string buf;
  try {
    for (;;) {
      const size_t used = buf.size();
      buf.resize(used + chat::kMaxLine);
      const size_t n = conn->read(buf.data() + used, chat::kMaxLine);
      buf.resize(used + n);
      if (n == 0) return;
      size_t start = 0;
      for (size_t nl; (nl = buf.find("\r\n", start)) != std::string::npos; start = nl + 2) {
        const std::string_view line(buf.data() + start, nl - start);
        if (line.starts_with("PING ")) {
          conn->write("PONG " + std::string(line.substr(5)) + "\r\n");
          continue;
        }
        const size_t seq = line.find(" :seq ");
        if (seq == std::string_view::npos) {
          if (line.find(" 366 ") != std::string_view::npos) t->joined.fetch_add(1);
          continue;
        }
        int sender = 0;
        long long k = 0, stamp = 0;
        if (std::sscanf(line.data() + seq + 6, "%d %lld %lld", &sender, &k, &stamp) != 3 || sender < 0 || sender >= senders) continue;
        if (sender % channels != channel) {
          t->duplicated.fetch_add(1);
          continue;
        }
        const int64_t now = now_ns();
        t->latency_us.record((now - stamp) / 1000);
        int64_t prev = t->last_delivery_ns.load(std::memory_order_relaxed);
        while (now > prev && !t->last_delivery_ns.compare_exchange_weak(prev, now, std::memory_order_relaxed)) {
        }
        int64_t& l = last[static_cast<size_t>(sender / channels)];
        if (k <= l) {
          t->duplicated.fetch_add(1);
          continue;
        }
        if (k > l + 1) t->lost.fetch_add(static_cast<uint64_t>(k - l - 1));
        l = k;
        t->delivered.fetch_add(1);
      }
      buf.erase(0, start);
      if (buf.empty()) buf = std::string();
    }
  } catch (const chat::ConnError&) {
  }
}

int run_load(const Flags& f) {
  Totals totals;
  std::unique_ptr<chat::Hub> hub;
  if (f.inproc) hub = std::make_unique<chat::Hub>(chat::Options{});
  std::vector<chat::ConnPtr> conns;
  conns.reserve(static_cast<size_t>(f.conns));
  const int64_t rss_before = rss_bytes(f.inproc ? 0 : f.server_pid);
  // In-process, the collections of the whole run count, connecting included:
  // the heap and the goroutines grow to their full size there.
  const auto gc_before = gort::gc::stats();
  std::vector<int> members(static_cast<size_t>(f.channels), 0);
  gort::WaitGroup reading;  // the clients' readers, which add to totals
  for (int i = 0; i < f.conns; ++i) {
    chat::ConnPtr c;
    if (f.inproc) {
      auto [server_end, client_end] = chat::pipe_conn(16, "sim");
      chat::serve(hub.get(), server_end);
      c = client_end;
    } else {
      c = chat::tcp_conn(gort::net::dial("tcp", f.addr));
    }
    // Appended, not concatenated: g++ 12 warns falsely on "u" + to_string(i).
    std::string nick = "u";
    nick += std::to_string(i);
    const int channel = i % f.channels;
    ++members[static_cast<size_t>(channel)];
    c->write("NICK " + nick + "\r\nUSER " + nick + " 0 * :load\r\nJOIN #c" + std::to_string(channel) + "\r\n");
    conns.push_back(c);
    reading.add(1);
    gort::go([c, channel, channels = f.channels, senders = f.senders, t = &totals, &reading] {
      read_client(c, channel, channels, senders, t);
      reading.done();
    });
    if (i % 10000 == 9999) std::fprintf(stderr, "chatload: %d connected\n", i + 1);
  }
  while (totals.joined.load() < static_cast<uint64_t>(f.conns)) gort::sleep(std::chrono::milliseconds(10));
  std::fprintf(stderr, "chatload: %d joined %d channels\n", f.conns, f.channels);

  // Sender s is client s, in channel s % C; its messages reach that
  // channel's other members.
  const int64_t per_sender = static_cast<int64_t>(f.rate * f.duration / f.senders);
  const auto interval = gort::Duration(static_cast<int64_t>(1e9 * f.senders / f.rate));
  uint64_t expected = 0;
  for (int s = 0; s < f.senders; ++s) expected += static_cast<uint64_t>(per_sender) * static_cast<uint64_t>(members[static_cast<size_t>(s % f.channels)] - 1);
  gort::WaitGroup sending;
  const gort::Time t0 = gort::Clock::now();
  for (int s = 0; s < f.senders; ++s) {
    sending.add(1);
    gort::go([&, s] {
      const std::string head = "PRIVMSG #c" + std::to_string(s % f.channels) + " :seq " + std::to_string(s) + " ";
      for (int64_t k = 0; k < per_sender; ++k) {
        const gort::Time due = t0 + interval * k + interval * s / f.senders;
        gort::sleep(due - gort::Clock::now());
        conns[static_cast<size_t>(s)]->write(head + std::to_string(k) + " " +
                                              std::to_string(std::chrono::duration_cast<std::chrono::nanoseconds>(due.time_since_epoch()).count()) + "\r\n");
      }
      sending.done();
    });
  }
  // Progress every second until everything sent has arrived, or nothing
  // more has for five seconds (what is missing then is lost).
  uint64_t seen = 0;
  int still = 0;
  for (;;) {
    gort::sleep(std::chrono::seconds(1));
    const uint64_t d = totals.delivered.load();
    std::fprintf(stderr, "chatload: %.0fs delivered %llu of %llu\n", std::chrono::duration<double>(gort::Clock::now() - t0).count(),
                 static_cast<unsigned long long>(d), static_cast<unsigned long long>(expected));
    if (d >= expected) break;
    still = d == seen ? still + 1 : 0;
    seen = d;
    if (still >= 5 && gort::Clock::now() - t0 > std::chrono::duration<double>(f.duration)) break;
  }
  sending.wait();
  // From the first message due to the last one delivered.
  const double elapsed = static_cast<double>(totals.last_delivery_ns.load() - std::chrono::duration_cast<std::chrono::nanoseconds>(t0.time_since_epoch()).count()) / 1e9;
  const auto gc_after = gort::gc::stats();
  uint64_t pause_max = 0;
  for (uint64_t k = gc_before.num_gc; k < gc_after.num_gc && k < gc_before.num_gc + 256; ++k) pause_max = std::max(pause_max, gc_after.pause_ns[k % 256]);
  const uint64_t delivered = totals.delivered.load();
  const uint64_t lost = totals.lost.load() + (expected > delivered + totals.lost.load() ? expected - delivered - totals.lost.load() : 0);
  // What the connections added: in-process, both ends of every user.
  const int64_t rss = rss_bytes(f.inproc ? 0 : f.server_pid) - rss_before;
  std::printf("conns=%d deliveries_per_s=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f lost=%llu duplicated=%llu rss_per_conn_kb=%.1f gc_pause_max_us=%.0f gcs=%llu\n",
              f.conns, elapsed > 0 ? static_cast<double>(delivered) / elapsed : 0.0, totals.latency_us.quantile(0.5) / 1e3,
              totals.latency_us.quantile(0.99) / 1e3, totals.latency_us.quantile(0.999) / 1e3, totals.latency_us.max() / 1e3,
              static_cast<unsigned long long>(lost), static_cast<unsigned long long>(totals.duplicated.load()),
              (f.inproc || f.server_pid) ? static_cast<double>(rss) / 1024.0 / f.conns : -1.0,
              f.inproc ? pause_max / 1e3 : -1.0, static_cast<unsigned long long>(f.inproc ? gc_after.num_gc - gc_before.num_gc : 0));
  std::fflush(stdout);
  // The readers and the in-process server use totals and hub: both stay
  // until every goroutine that does has ended.
  for (auto& c : conns) c->close();
  reading.wait();
  if (hub) hub->goroutines.wait();
  return lost == 0 && totals.duplicated.load() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "-inproc") {
      f.inproc = true;
      continue;
    }
    if (i + 1 >= argc) return usage();
    const char* v = argv[++i];
    if (flag == "-addr") f.addr = v;
    else if (flag == "-conns") f.conns = std::atoi(v);
    else if (flag == "-channels") f.channels = std::atoi(v);
    else if (flag == "-senders") f.senders = std::atoi(v);
    else if (flag == "-rate") f.rate = std::atof(v);
    else if (flag == "-duration") f.duration = std::atof(v);
    else if (flag == "-server-pid") f.server_pid = std::atol(v);
    else return usage();
  }
  if (f.inproc == !f.addr.empty() || f.conns < 2 || f.channels < 1 || f.senders < 1 || f.senders > f.conns || f.rate <= 0 || f.duration <= 0) return usage();
  return gort::run([&] { return run_load(f); });
}
