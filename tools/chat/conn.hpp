// What the server needs of a client's connection, so that the same server
// runs over real sockets (tcp_conn.hpp) and over gort channels inside one
// process (pipe_conn.hpp), where half a million users need no file
// descriptors. Errors are ConnError exceptions; read() returns 0 at the end
// of the stream.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>

namespace chat {

class ConnError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Conn {
 public:
  virtual ~Conn() = default;
  // Up to n bytes; 0 at end of stream. Throws once the connection is closed.
  virtual size_t read(char* buf, size_t n) = 0;
  // All of s, or throws (peer gone, connection closed).
  virtual void write(const std::string& s) = 0;
  // Half-close: the peer reads end of stream, this side may still read.
  virtual void close_write() = 0;
  // Ends the connection; wakes a goroutine blocked in read or write on it
  // with an error. Safe to call from any goroutine, more than once.
  virtual void close() = 0;
  // The host part of the client's address, for its nick!user@host.
  virtual std::string host() const = 0;
};

using ConnPtr = std::shared_ptr<Conn>;

}  // namespace chat
