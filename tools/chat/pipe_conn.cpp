#include "pipe_conn.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "gort/chan.hpp"
#include "gort/select.hpp"

namespace chat {

namespace {

// One end's own state; its peer holds the other.
struct EndState {
  gort::chan<std::string> out;   // what this end writes; closed by close_write
  gort::chan<bool> closed;       // closed once, by close()
  std::atomic<bool> is_closed{false};
  std::atomic<bool> write_closed{false};
};

class PipeEnd final : public Conn {
 public:
  PipeEnd(std::shared_ptr<EndState> self, std::shared_ptr<EndState> peer, std::string host)
      : self_(std::move(self)), peer_(std::move(peer)), host_(std::move(host)) {}
  ~PipeEnd() override { close(); }

  size_t read(char* buf, size_t n) override {
    if (pending_.empty() && !fill()) return 0;
    const size_t k = std::min(n, pending_.size() - offset_);
    std::memcpy(buf, pending_.data() + offset_, k);
    offset_ += k;
    if (offset_ == pending_.size()) {
      pending_ = std::string();  // a burst's chunk is not kept for the next
      offset_ = 0;
    }
    return k;
  }

  void write(const std::string& s) override {
    if (self_->is_closed.load() || self_->write_closed.load()) throw ConnError("write on closed pipe");
    bool sent = false;
    gort::select(gort::send(self_->out, s, [&] { sent = true; }),
                 gort::recv(self_->closed, [] {}),
                 gort::recv(peer_->closed, [] {}));
    if (!sent) throw ConnError("write on closed pipe");
  }

  void close_write() override {
    if (!self_->write_closed.exchange(true)) self_->out.close();
  }

  void close() override {
    if (!self_->is_closed.exchange(true)) self_->closed.close();
  }

  std::string host() const override { return host_; }

 private:
  // Receives the next chunk; false at end of stream. Data the peer wrote
  // before it closed is still delivered, as a socket would.
  bool fill() {
    if (self_->is_closed.load()) throw ConnError("read on closed pipe");
    for (;;) {
      std::string chunk;
      bool got = false, eof = false;
      const int chosen = gort::select(gort::recv(peer_->out,
                                                 [&](std::string c, bool ok) {
                                                   got = ok;
                                                   eof = !ok;
                                                   chunk = std::move(c);
                                                 }),
                                      gort::otherwise([] {}));
      if (chosen < 0) {
        bool peer_gone = false, self_gone = false;
        gort::select(gort::recv(peer_->out,
                                [&](std::string c, bool ok) {
                                  got = ok;
                                  eof = !ok;
                                  chunk = std::move(c);
                                }),
                     gort::recv(peer_->closed, [&] { peer_gone = true; }),
                     gort::recv(self_->closed, [&] { self_gone = true; }));
        if (self_gone) throw ConnError("read on closed pipe");
        if (peer_gone) return false;
      }
      if (eof) return false;
      if (got && !chunk.empty()) {
        pending_ = std::move(chunk);
        return true;
      }
    }
  }

  std::shared_ptr<EndState> self_, peer_;
  std::string host_;
  std::string pending_;  // the chunk being read, from offset_
  size_t offset_ = 0;
};

std::shared_ptr<EndState> end_state(size_t chunks) {
  auto s = std::make_shared<EndState>();
  s->out = gort::make_chan<std::string>(chunks);
  s->closed = gort::make_chan<bool>();
  return s;
}

}  // namespace

std::pair<ConnPtr, ConnPtr> pipe_conn(size_t chunks, const std::string& host) {
  auto a = end_state(chunks), b = end_state(chunks);
  return {std::make_shared<PipeEnd>(a, b, host), std::make_shared<PipeEnd>(b, a, host)};
}

}  // namespace chat
