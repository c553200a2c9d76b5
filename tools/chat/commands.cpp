// The commands, one function each, run under the hub's lock. Replies follow
// RFC 2812 (numerics in section 5) as ircds answer them today.
#include <algorithm>
#include <cctype>
#include <string_view>

#include "hub.hpp"

namespace chat {

namespace {

constexpr size_t kMaxNick = 30;
constexpr const char* kVersion = "gort-chatd-0.1";

// RFC 2812 2.3.1: a letter or special first, then letters, digits,
// specials and '-'.
bool valid_nick(const std::string& n) {
  if (n.empty() || n.size() > kMaxNick) return false;
  auto special = [](char ch) { return std::string_view("[]\\`_^{|}").find(ch) != std::string_view::npos; };
  for (size_t i = 0; i < n.size(); ++i) {
    const unsigned char ch = n[i];
    const bool ok = std::isalpha(ch) || special(ch) || (i > 0 && (std::isdigit(ch) || ch == '-'));
    if (!ok) return false;
  }
  return true;
}

bool valid_channel(const std::string& n) {
  return n.size() >= 2 && n.size() <= 50 && (n[0] == '#' || n[0] == '&') &&
         n.find_first_of(std::string_view(" ,\x07", 3)) == std::string::npos;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = s.find(',', start);
    if (comma > start && start < s.size()) out.push_back(s.substr(start, comma - start));
    if (comma == std::string::npos) return out;
    start = comma + 1;
  }
}

}  // namespace

void Hub::dispatch(Client* c, const Message& m) {
  const std::string& cmd = m.command;
  if (cmd == "CAP") return cmd_cap(c, m);
  if (cmd == "NICK") return cmd_nick(c, m);
  if (cmd == "USER") return cmd_user(c, m);
  if (cmd == "PASS" || cmd == "PONG") return;
  if (cmd == "PING") {
    if (m.params.empty()) return numeric(c, "409", {"No origin specified"});
    return deliver(c, format(opts_.server_name, "PONG", {opts_.server_name, m.params[0]}));
  }
  if (!c->registered) return numeric(c, "451", {"You have not registered"});
  if (cmd == "JOIN") return cmd_join(c, m);
  if (cmd == "PART") return cmd_part(c, m);
  if (cmd == "PRIVMSG" || cmd == "NOTICE") return cmd_message(c, m);
  if (cmd == "NAMES") return cmd_names(c, m);
  if (cmd == "TOPIC") return cmd_topic(c, m);
  if (cmd == "MODE") return cmd_mode(c, m);
  if (cmd == "WHO") return cmd_who(c, m);
  numeric(c, "421", {cmd, "Unknown command"});
}

// Capability negotiation (IRCv3): we offer none, so LS lists nothing and
// REQ is refused; clients then register as without CAP.
void Hub::cmd_cap(Client* c, const Message& m) {
  const std::string sub = m.params.empty() ? "" : m.params[0];
  const std::string who = c->nick.empty() ? "*" : c->nick;
  if (sub == "LS" || sub == "LIST") deliver(c, format(opts_.server_name, "CAP", {who, sub, ""}));
  else if (sub == "REQ") deliver(c, format(opts_.server_name, "CAP", {who, "NAK", m.params.size() > 1 ? m.params[1] : ""}));
  else if (sub != "END") numeric(c, "410", {sub, "Invalid CAP command"});
}

void Hub::cmd_nick(Client* c, const Message& m) {
  if (m.params.empty() || m.params[0].empty()) return numeric(c, "431", {"No nickname given"});
  const std::string& nick = m.params[0];
  if (!valid_nick(nick)) return numeric(c, "432", {nick, "Erroneous nickname"});
  const std::string key = irc_lower(nick);
  auto it = nicks_.find(key);
  if (it != nicks_.end() && it->second != c->slot) return numeric(c, "433", {nick, "Nickname is already in use"});
  if (!c->nick.empty()) nicks_.erase(irc_lower(c->nick));
  nicks_[key] = c->slot;
  if (c->registered) {
    deliver_neighbours(c, format(c->prefix(), "NICK", {nick}), true);
    c->nick = nick;
    return;
  }
  c->nick = nick;
  if (!c->user.empty()) welcome(c);
}

void Hub::cmd_user(Client* c, const Message& m) {
  if (c->registered) return numeric(c, "462", {"You may not reregister"});
  if (m.params.size() < 4) return numeric(c, "461", {"USER", "Not enough parameters"});
  c->user = m.params[0].substr(0, 10);
  c->realname = m.params[3];
  if (!c->nick.empty()) welcome(c);
}

void Hub::welcome(Client* c) {
  c->registered = true;
  const std::string& s = opts_.server_name;
  numeric(c, "001", {"Welcome to the gort chat network " + c->prefix()});
  numeric(c, "002", {"Your host is " + s + ", running version " + kVersion});
  numeric(c, "003", {"This server runs on gort goroutines"});
  numeric(c, "004", {s, kVersion, "i", "nt"});
  numeric(c, "005", {"CHANTYPES=#&", "NICKLEN=30", "CHANNELLEN=50", "CASEMAPPING=rfc1459", "are supported by this server"});
  numeric(c, "422", {"MOTD File is missing"});
}

void Hub::cmd_join(Client* c, const Message& m) {
  if (m.params.empty()) return numeric(c, "461", {"JOIN", "Not enough parameters"});
  for (const std::string& name : split_commas(m.params[0])) {
    if (!valid_channel(name)) {
      numeric(c, "403", {name, "No such channel"});
      continue;
    }
    const std::string key = irc_lower(name);
    Channel& ch = channels_[key];
    if (ch.name.empty()) ch.name = name;
    if (std::find(ch.members.begin(), ch.members.end(), c->slot) != ch.members.end()) continue;
    ch.members.push_back(c->slot);
    c->channels.push_back(key);
    deliver_channel(ch, format(c->prefix(), "JOIN", {ch.name}), nullptr);
    if (!ch.topic.empty()) numeric(c, "332", {ch.name, ch.topic});
    names(c, ch);
  }
}

void Hub::cmd_part(Client* c, const Message& m) {
  if (m.params.empty()) return numeric(c, "461", {"PART", "Not enough parameters"});
  for (const std::string& name : split_commas(m.params[0])) {
    Channel* ch = find_channel(name);
    if (!ch) {
      numeric(c, "403", {name, "No such channel"});
      continue;
    }
    if (std::find(ch->members.begin(), ch->members.end(), c->slot) == ch->members.end()) {
      numeric(c, "442", {ch->name, "You're not on that channel"});
      continue;
    }
    std::vector<std::string> params{ch->name};
    if (m.params.size() > 1) params.push_back(m.params[1]);
    deliver_channel(*ch, format(c->prefix(), "PART", params), nullptr);
    leave(*ch, c);
  }
}

// PRIVMSG and NOTICE; a NOTICE never draws an error reply (RFC 2812 3.3.2),
// so two programs cannot answer each other's errors forever.
void Hub::cmd_message(Client* c, const Message& m) {
  const bool notice = m.command == "NOTICE";
  if (m.params.empty()) {
    if (!notice) numeric(c, "411", {"No recipient given (" + m.command + ")"});
    return;
  }
  if (m.params.size() < 2 || m.params[1].empty()) {
    if (!notice) numeric(c, "412", {"No text to send"});
    return;
  }
  for (const std::string& target : split_commas(m.params[0])) {
    const std::string line = format(c->prefix(), m.command, {target, m.params[1]});
    if (target[0] == '#' || target[0] == '&') {
      Channel* ch = find_channel(target);
      if (!ch) {
        if (!notice) numeric(c, "403", {target, "No such channel"});
      } else if (std::find(ch->members.begin(), ch->members.end(), c->slot) == ch->members.end()) {
        // Channels are +n: only members speak in them.
        if (!notice) numeric(c, "404", {ch->name, "Cannot send to channel"});
      } else {
        deliver_channel(*ch, line, c);
      }
      continue;
    }
    auto it = nicks_.find(irc_lower(target));
    if (it == nicks_.end() || !client(it->second)->registered) {
      if (!notice) numeric(c, "401", {target, "No such nick/channel"});
      continue;
    }
    deliver(client(it->second), line);
  }
}

void Hub::names(Client* c, const Channel& ch) {
  // 353 lines stay under the line limit: a new one every 400 bytes of nicks.
  std::string list;
  for (uint32_t m : ch.members) {
    if (!list.empty()) list += ' ';
    list += client(m)->nick;
    if (list.size() > 400) {
      numeric(c, "353", {"=", ch.name, list});
      list.clear();
    }
  }
  if (!list.empty()) numeric(c, "353", {"=", ch.name, list});
  numeric(c, "366", {ch.name, "End of /NAMES list"});
}

void Hub::cmd_names(Client* c, const Message& m) {
  if (m.params.empty()) return numeric(c, "366", {"*", "End of /NAMES list"});
  for (const std::string& name : split_commas(m.params[0])) {
    Channel* ch = find_channel(name);
    if (ch) names(c, *ch);
    else numeric(c, "366", {name, "End of /NAMES list"});
  }
}

void Hub::cmd_topic(Client* c, const Message& m) {
  if (m.params.empty()) return numeric(c, "461", {"TOPIC", "Not enough parameters"});
  Channel* ch = find_channel(m.params[0]);
  if (!ch) return numeric(c, "403", {m.params[0], "No such channel"});
  const bool member = std::find(ch->members.begin(), ch->members.end(), c->slot) != ch->members.end();
  if (m.params.size() < 2) {
    if (ch->topic.empty()) return numeric(c, "331", {ch->name, "No topic is set"});
    return numeric(c, "332", {ch->name, ch->topic});
  }
  if (!member) return numeric(c, "442", {ch->name, "You're not on that channel"});
  ch->topic = m.params[1];
  deliver_channel(*ch, format(c->prefix(), "TOPIC", {ch->name, ch->topic}), nullptr);
}

// Modes are not supported; clients ask for them after joining, so the
// queries get the empty answers and changes 472/501.
void Hub::cmd_mode(Client* c, const Message& m) {
  if (m.params.empty()) return numeric(c, "461", {"MODE", "Not enough parameters"});
  const std::string& target = m.params[0];
  if (target[0] == '#' || target[0] == '&') {
    Channel* ch = find_channel(target);
    if (!ch) return numeric(c, "403", {target, "No such channel"});
    if (m.params.size() == 1) return numeric(c, "324", {ch->name, "+nt"});
    if (m.params[1] == "b" || m.params[1] == "+b") return numeric(c, "368", {ch->name, "End of channel ban list"});
    return numeric(c, "472", {m.params[1], "is unknown mode char to me"});
  }
  if (irc_lower(target) != irc_lower(c->nick)) return numeric(c, "502", {"Cannot change mode for other users"});
  if (m.params.size() == 1) return numeric(c, "221", {"+"});
  numeric(c, "501", {"Unknown MODE flag"});
}

void Hub::cmd_who(Client* c, const Message& m) {
  numeric(c, "315", {m.params.empty() ? "*" : m.params[0], "End of WHO list"});
}

}  // namespace chat
