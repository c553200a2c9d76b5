// The in-process transport: two connected chat::Conns whose bytes travel as
// chunks over gort channels, Go's net.Pipe with a buffer. A simulated user
// costs goroutines and channel buffers, no file descriptor.
#pragma once

#include <string>
#include <utility>

#include "conn.hpp"

namespace chat {

// Each direction buffers up to `chunks` writes before a writer parks, as a
// socket's send buffer fills. The ends report host() as `host`.
std::pair<ConnPtr, ConnPtr> pipe_conn(size_t chunks, const std::string& host);

}  // namespace chat
