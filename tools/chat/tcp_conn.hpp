// The real transport: a gort::net TCP connection behind chat::Conn.
#pragma once

#include "conn.hpp"
#include "gort/net.hpp"

namespace chat {

ConnPtr tcp_conn(gort::net::Conn c);

}  // namespace chat
