#include "hub.hpp"

#include <algorithm>
#include <mutex>

#include "gort/select.hpp"

namespace chat {

Client* Hub::add(ConnPtr conn) {
  Client* c = gort::gc::make<Client>(std::move(conn), opts_.sendq_lines);
  std::lock_guard lk(mu_);
  if (free_slots_.empty()) {
    if (used_ == capacity_) {
      const size_t grown = std::max<size_t>(64, capacity_ * 2);
      gort::gc::ref<Client>* bigger = gort::gc::make_array<gort::gc::ref<Client>>(grown);
      for (size_t i = 0; i < used_; ++i) bigger[i] = slots_.get()[i];
      slots_ = bigger;
      capacity_ = grown;
    }
    free_slots_.push_back(static_cast<uint32_t>(used_++));
  }
  c->slot = free_slots_.back();
  free_slots_.pop_back();
  slots_.get()[c->slot] = c;
  return c;
}

size_t Hub::clients() const {
  std::lock_guard lk(mu_);
  return used_ - free_slots_.size();
}

bool Hub::handle_line(Client* c, const std::string& line, bool too_long) {
  std::lock_guard lk(mu_);
  if (too_long) {
    numeric(c, "417", {"Input line was too long"});
    return true;
  }
  // Binary garbage and empty lines parse to nothing and are dropped, as
  // ircds drop them: there is no command to answer.
  const std::optional<Message> m = parse(line);
  if (!m) return true;
  if (m->command == "QUIT") {
    c->quit_reason = m->params.empty() ? "Client Quit" : "Quit: " + m->params[0];
    return false;
  }
  dispatch(c, *m);
  return true;
}

void Hub::ping(Client* c) {
  std::lock_guard lk(mu_);
  deliver(c, format("", "PING", {opts_.server_name}));
}

void Hub::remove(Client* c, const std::string& reason) {
  std::lock_guard lk(mu_);
  if (c->quit_reason.empty()) c->quit_reason = reason;
  if (c->registered) {
    // Everyone who shares a channel hears it once; the client itself
    // gets ERROR instead.
    deliver_neighbours(c, format(c->prefix(), "QUIT", {c->quit_reason}), false);
    for (const std::string& name : std::vector<std::string>(c->channels)) leave(channels_.at(name), c);
    nicks_.erase(irc_lower(c->nick));
  }
  deliver(c, format("", "ERROR", {"Closing Link: " + c->host + " (" + c->quit_reason + ")"}));
  c->sendq.close();
  slots_.get()[c->slot] = nullptr;
  free_slots_.push_back(c->slot);
}

// The hub's lock is held: the only sends on a send queue happen here, and
// remove() closes it under the same lock, so no send meets a closed queue.
void Hub::deliver(Client* c, OutLine line) {
  if (c->killed) return;
  bool queued = false;
  gort::select(gort::send(c->sendq, line, [&] { queued = true; }), gort::otherwise([] {}));
  if (queued) return;
  // Waiting here would stall the sender and everyone behind the lock for
  // one client that does not read; ircds drop that client instead.
  c->killed = true;
  c->quit_reason = "SendQ exceeded";
  c->conn->close();
}

void Hub::deliver_channel(const Channel& ch, const std::string& text, const Client* except) {
  const OutLine line = share(text);
  for (uint32_t m : ch.members)
    if (client(m) != except) deliver(client(m), line);
}

void Hub::deliver_neighbours(Client* c, const std::string& text, bool to_self) {
  const OutLine line = share(text);
  std::vector<uint32_t> told{c->slot};
  if (to_self) deliver(c, line);
  for (const std::string& name : c->channels) {
    for (uint32_t m : channels_.at(name).members) {
      if (std::find(told.begin(), told.end(), m) != told.end()) continue;
      told.push_back(m);
      deliver(client(m), line);
    }
  }
}

void Hub::numeric(Client* c, const char* code, std::vector<std::string> params) {
  params.insert(params.begin(), c->nick.empty() ? "*" : c->nick);
  deliver(c, format(opts_.server_name, code, params));
}

void Hub::leave(Channel& ch, Client* c) {
  std::erase(ch.members, c->slot);
  const std::string key = irc_lower(ch.name);
  std::erase(c->channels, key);
  if (ch.members.empty()) channels_.erase(key);
}

Hub::Channel* Hub::find_channel(const std::string& name) {
  auto it = channels_.find(irc_lower(name));
  return it == channels_.end() ? nullptr : &it->second;
}

}  // namespace chat
