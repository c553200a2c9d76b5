// IRC messages (RFC 1459 section 2.3, RFC 2812 section 2.3.1): one line,
//   [":" prefix SPACE] command {SPACE param} [SPACE ":" trailing]
// at most 512 bytes with its CR LF. parse() reads a line a client sent;
// format() writes one the server sends, putting the last of two or more
// parameters after a colon, and a lone one when it must (empty, has a
// space, starts with ':').
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chat {

// RFC 2812's limit, CR LF included: the longest line a client may send and
// the longest the server writes.
inline constexpr size_t kMaxLine = 512;

struct Message {
  std::string prefix;
  std::string command;  // upper-cased, as commands are case-insensitive
  std::vector<std::string> params;
};

// The message in a line without its CR LF; nothing for a line that carries
// no command (empty, only a prefix) or whose command is not a word of
// letters or three digits, which is what binary garbage looks like.
std::optional<Message> parse(std::string_view line);

// A line ready to send, CR LF included, cut to kMaxLine.
std::string format(std::string_view prefix, std::string_view command, const std::vector<std::string>& params);

// A line on its way out, formatted once and shared by every send queue it
// is delivered to (a channel message goes to each member): the bytes live
// in one collected, pointer-free array, kept alive by the queues and the
// writers holding it, so a send queue slot is 16 bytes, not a string.
struct OutLine {
  const char* data = nullptr;
  uint32_t size = 0;

  std::string_view view() const { return {data, size}; }
};

// Copies line into the collected heap (from a goroutine only).
OutLine share(std::string_view line);

// IRC's case mapping (rfc1459): {}|^ are the lower case of []\~.
std::string irc_lower(std::string_view s);

}  // namespace chat
