// A connection's life on the server: three goroutines, as Twitch's Go chat
// edge ran them.
//   reader   reads bytes, cuts them into lines (enforcing the 512-byte
//            limit) and hands them to the handler through a small channel:
//            a client that floods commands is slowed down to the handler's
//            pace, its excess left in its socket, not in server memory.
//   handler  runs each line against the hub, pings an idle client and
//            drops one that does not answer, and tears the client down.
//   writer   writes what others queued for the client, several lines at a
//            time, so that no one else ever waits on this client's socket.
#pragma once

#include "conn.hpp"
#include "hub.hpp"

namespace chat {

// Starts the three goroutines for a new connection and returns.
void serve(Hub* hub, ConnPtr conn);

}  // namespace chat
