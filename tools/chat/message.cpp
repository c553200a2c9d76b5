#include "message.hpp"

#include <cctype>
#include <cstring>

#include "gort/gc.hpp"

namespace chat {

namespace {

bool is_command(std::string_view c) {
  if (c.empty()) return false;
  bool letters = true, digits = c.size() == 3;
  for (unsigned char ch : c) {
    letters = letters && std::isalpha(ch);
    digits = digits && std::isdigit(ch);
  }
  return letters || digits;
}

}  // namespace

std::optional<Message> parse(std::string_view line) {
  // NUL, CR and LF may not appear inside a message (RFC 2812 2.3.1).
  if (line.find_first_of(std::string_view("\0\r\n", 3)) != std::string_view::npos) return std::nullopt;
  Message m;
  auto skip_spaces = [&] {
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  };
  auto word = [&] {
    const size_t end = line.find(' ');
    std::string_view w = line.substr(0, end);
    line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    return w;
  };
  skip_spaces();
  if (!line.empty() && line.front() == ':') {
    line.remove_prefix(1);
    m.prefix = word();
    skip_spaces();
  }
  const std::string_view command = word();
  if (!is_command(command)) return std::nullopt;
  for (char ch : command) m.command += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (;;) {
    skip_spaces();
    if (line.empty()) break;
    if (line.front() == ':') {
      m.params.emplace_back(line.substr(1));
      break;
    }
    m.params.emplace_back(word());
  }
  return m;
}

std::string format(std::string_view prefix, std::string_view command, const std::vector<std::string>& params) {
  std::string out;
  if (!prefix.empty()) {
    out += ':';
    out += prefix;
    out += ' ';
  }
  out += command;
  for (size_t i = 0; i < params.size(); ++i) {
    const std::string& p = params[i];
    out += ' ';
    const bool last = i + 1 == params.size();
    // Text after a target (message, reason, topic) goes after a colon, as
    // ircds write it; a lone parameter only when it must.
    if (last && (i > 0 || p.empty() || p.front() == ':' || p.find(' ') != std::string::npos)) out += ':';
    out += p;
  }
  if (out.size() > kMaxLine - 2) out.resize(kMaxLine - 2);
  out += "\r\n";
  return out;
}

std::string irc_lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) {
    if (ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch - 'A' + 'a');
    else if (ch == '[') ch = '{';
    else if (ch == ']') ch = '}';
    else if (ch == '\\') ch = '|';
    else if (ch == '~') ch = '^';
  }
  return out;
}

OutLine share(std::string_view line) {
  char* bytes = gort::gc::make_array<char>(line.size());
  std::memcpy(bytes, line.data(), line.size());
  return {bytes, static_cast<uint32_t>(line.size())};
}

}  // namespace chat
