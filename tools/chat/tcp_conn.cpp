#include "tcp_conn.hpp"

namespace chat {

namespace {

class TcpConn final : public Conn {
 public:
  explicit TcpConn(gort::net::Conn c) : c_(std::move(c)) {}

  size_t read(char* buf, size_t n) override {
    try {
      return c_.read(buf, n);
    } catch (const gort::net::Error& e) {
      throw ConnError(e.what());
    }
  }
  void write(const std::string& s) override {
    try {
      c_.write(s);
    } catch (const gort::net::Error& e) {
      throw ConnError(e.what());
    }
  }
  void close_write() override {
    try {
      c_.close_write();
    } catch (const gort::net::Error&) {  // already closed: nothing left to half-close
    }
  }
  void close() override { c_.close(); }
  std::string host() const override {
    // "1.2.3.4:5678" or "[::1]:5678": the host is before the last colon.
    std::string a = c_.remote_addr();
    a = a.substr(0, a.rfind(':'));
    if (a.size() >= 2 && a.front() == '[') a = a.substr(1, a.size() - 2);
    return a;
  }

 private:
  gort::net::Conn c_;
};

}  // namespace

ConnPtr tcp_conn(gort::net::Conn c) { return std::make_shared<TcpConn>(std::move(c)); }

}  // namespace chat
