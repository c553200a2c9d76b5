// Go's net package, the stream part: TCP over IPv4 and IPv6, and Unix
// sockets. Every call that would block parks the goroutine; the M runs other
// goroutines meanwhile (see sched/netpoll.hpp).
//
//   auto ln = gort::net::listen("tcp", "127.0.0.1:0");
//   gort::go([ln]() mutable {
//     for (;;) {
//       gort::net::Conn c = ln.accept();
//       gort::go([c]() mutable { echo(c); });
//     }
//   });
//   gort::net::Conn c = gort::net::dial("tcp", ln.addr());
//
// Networks: "tcp", "tcp4", "tcp6", "unix". Addresses: "host:port",
// "[ipv6]:port", or a path for "unix". Host names are resolved through
// gort::blocking (getaddrinfo blocks its thread).
//
// Errors are gort::net::Error exceptions with Go-style messages, e.g.
// "read tcp 127.0.0.1:4000->127.0.0.1:51234: connection reset by peer";
// timeout() tells a deadline from other errors. read() returns 0 at EOF.
// Conn and Listener are shared handles, like Go's interface values: copies
// refer to the same socket, which closes when the last copy goes or on
// close(). Closing wakes any goroutine blocked on it with an error.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include "gort/time.hpp"

namespace gort::net {

class Error : public std::runtime_error {
 public:
  Error(const std::string& what, int err, bool timeout) : std::runtime_error(what), errno_(err), timeout_(timeout) {}
  int error_number() const { return errno_; }  // errno, 0 if none
  bool timeout() const { return timeout_; }    // a deadline passed

 private:
  int errno_;
  bool timeout_;
};

namespace detail {
struct NetFD;
}

class Conn {
 public:
  Conn() = default;

  // Reads up to n bytes; returns how many, 0 at end of stream.
  size_t read(void* buf, size_t n);
  // Reads exactly n bytes; false if the stream ended first.
  bool read_full(void* buf, size_t n);
  // Writes all n bytes (or throws).
  void write(const void* buf, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  // Half-close: the peer reads end of stream; we may still read.
  void close_write();
  void close();

  // Go's SetDeadline family: a time after which blocked and future calls
  // fail with a timeout error. Time{} clears it.
  void set_deadline(Time t);
  void set_read_deadline(Time t);
  void set_write_deadline(Time t);

  std::string local_addr() const;
  std::string remote_addr() const;
  explicit operator bool() const { return fd_ != nullptr; }

 private:
  friend class Listener;
  friend Conn dial(const std::string&, const std::string&);
  explicit Conn(std::shared_ptr<detail::NetFD> fd) : fd_(std::move(fd)) {}
  std::shared_ptr<detail::NetFD> fd_;
};

class Listener {
 public:
  Listener() = default;
  Conn accept();
  void close();
  std::string addr() const;  // e.g. "127.0.0.1:40123", usable by dial
  explicit operator bool() const { return fd_ != nullptr; }

 private:
  friend Listener listen(const std::string&, const std::string&);
  explicit Listener(std::shared_ptr<detail::NetFD> fd) : fd_(std::move(fd)) {}
  std::shared_ptr<detail::NetFD> fd_;
};

Listener listen(const std::string& network, const std::string& address);
Conn dial(const std::string& network, const std::string& address);

}  // namespace gort::net
