#include "session.hpp"

#include "gort/runtime.hpp"
#include "gort/select.hpp"
#include "gort/time.hpp"

namespace chat {

namespace {

struct Line {
  std::string text;
  bool too_long = false;
};

// Lines waiting for the handler; more only buffer what TCP already does.
constexpr size_t kInboxLines = 8;
// The most bytes one write gathers from the send queue.
constexpr size_t kWriteBatch = 16 * 1024;

void read_lines(ConnPtr conn, gort::chan<Line> inbox, gort::chan<bool> done) {
  // False once the handler has gone and wants no more lines.
  auto hand_over = [&](Line l) {
    bool sent = false;
    gort::select(gort::send(inbox, std::move(l), [&] { sent = true; }), gort::recv(done, [] {}));
    return sent;
  };
  std::string line;
  bool discarding = false;  // inside a line already known to be too long
  // One line's worth: a bigger buffer would take the reader's stack past one
  // page, and a page per connection is worth more than a few extra reads
  // from a client that pipelines.
  char buf[kMaxLine];
  try {
    for (;;) {
      const size_t n = conn->read(buf, sizeof buf);
      if (n == 0) break;
      for (size_t i = 0; i < n; ++i) {
        const char ch = buf[i];
        if (ch == '\n') {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          const bool too_long = discarding || line.size() > kMaxLine - 2;
          if (!hand_over(Line{too_long ? std::string() : std::move(line), too_long})) return;
          line.clear();
          discarding = false;
        } else if (!discarding) {
          line += ch;
          // One byte over a full line plus its CR: nothing kept of it can be answered.
          if (line.size() > kMaxLine) {
            discarding = true;
            line.clear();
          }
        }
      }
    }
  } catch (const ConnError&) {  // closed under us: the handler is tearing down
  }
  inbox.close();
}

void write_lines(ConnPtr conn, gort::chan<OutLine> sendq, gort::chan<bool> written) {
  bool broken = false;
  for (const OutLine first : sendq) {
    std::string batch(first.view());
    // Whatever else is queued already goes in the same write.
    while (batch.size() < kWriteBatch) {
      bool more = false;
      gort::select(gort::recv(sendq,
                              [&](OutLine l, bool ok) {
                                more = ok;
                                batch += l.view();
                              }),
                   gort::otherwise([] {}));
      if (!more) break;
    }
    if (broken) continue;
    try {
      conn->write(batch);
    } catch (const ConnError&) {
      // The reader sees the close and the handler tears down; until then
      // the queue is drained, so no one delivering to it is refused.
      broken = true;
      conn->close();
    }
  }
  if (!broken) conn->close_write();
  written.close();
}

void handle(Hub* hub, Client* c, gort::chan<Line> inbox, gort::chan<bool> done, gort::chan<bool> written) {
  gort::Ticker ticker(hub->options().ping_interval);
  bool active = true;          // a line came since the last tick
  bool awaiting_pong = false;  // we pinged and nothing came since
  std::string reason = "Connection closed";
  for (bool running = true; running;) {
    gort::select(gort::recv(inbox,
                            [&](Line l, bool ok) {
                              if (!ok) {
                                running = false;
                                return;
                              }
                              active = true;
                              awaiting_pong = false;
                              running = hub->handle_line(c, l.text, l.too_long);
                            }),
                 gort::recv(ticker.C, [&] {
                   if (active) {
                     active = false;
                   } else if (awaiting_pong) {
                     reason = "Ping timeout";
                     running = false;
                   } else {
                     awaiting_pong = true;
                     hub->ping(c);
                   }
                 }));
  }
  ticker.stop();
  hub->remove(c, reason);
  done.close();
  // The writer flushes the closing lines; a client that does not read them
  // gets the grace period, then the connection is cut.
  gort::select(gort::recv(written, [] {}), gort::recv(gort::after(hub->options().close_grace), [&] { c->conn->close(); }));
  written.recv();
  c->conn->close();
}

}  // namespace

void serve(Hub* hub, ConnPtr conn) {
  Client* c = hub->add(std::move(conn));
  auto inbox = gort::make_chan<Line>(kInboxLines);
  auto done = gort::make_chan<bool>();
  auto written = gort::make_chan<bool>();
  hub->goroutines.add(3);
  gort::go([hub, conn = c->conn, inbox, done] {
    read_lines(conn, inbox, done);
    hub->goroutines.done();
  });
  gort::go([hub, conn = c->conn, sendq = c->sendq, written] {
    write_lines(conn, sendq, written);
    hub->goroutines.done();
  });
  gort::go([hub, c, inbox, done, written] {
    handle(hub, c, inbox, done, written);
    hub->goroutines.done();
  });
}

}  // namespace chat
