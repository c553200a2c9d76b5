// One connected client: a collected object, as Go's chat edge kept a
// struct per connection on its heap. It holds no collected pointers (the
// hub refers to it, not the other way round), so it is never scanned; its
// destructor, run once the collector finds it unreachable, drops the
// connection handle, gort's counterpart of the finalizer Go's net package
// attaches to every socket.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "conn.hpp"
#include "gort/chan.hpp"
#include "message.hpp"

namespace chat {

struct Client {
  Client(ConnPtr c, size_t sendq_lines)
      : conn(std::move(c)), host(conn->host()), sendq(gort::make_chan<OutLine>(sendq_lines)) {}

  ConnPtr conn;
  const std::string host;
  // Lines for the writer goroutine. Bounded: a client that stops reading
  // fills it, and is dropped instead of holding up whoever sends to it.
  const gort::chan<OutLine> sendq;

  // The rest is guarded by the hub's mutex.
  uint32_t slot = 0;  // index in the hub's client table
  std::string nick, user, realname;
  bool registered = false;
  std::vector<std::string> channels;  // case-folded names of channels joined
  std::string quit_reason;            // set by QUIT, a kill or a ping timeout
  bool killed = false;                // the sendq overflowed: deliver nothing more

  std::string prefix() const { return nick + "!" + user + "@" + host; }
};

}  // namespace chat
