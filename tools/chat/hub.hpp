// The hub: the server's shared state (clients by nick, channels and their
// members) and every command that reads or changes it. One mutex guards it
// all; a command holds it only while it looks up recipients and queues
// lines, never while anything is written to a socket (the writer
// goroutines do that), so a slow client never holds up the others.
//
// Collected pointers may not live in std containers (gort/gc.hpp), so the
// clients sit in a collected array of gc::ref, which the hub holds through
// a gc::root, and the nick table and channel member lists hold indices into
// it. The hub itself is a plain object: whoever runs the server owns it,
// and its tables go when the server does.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "client.hpp"
#include "conn.hpp"
#include "gort/gc.hpp"
#include "gort/mutex.hpp"
#include "gort/time.hpp"
#include "gort/waitgroup.hpp"
#include "message.hpp"

namespace chat {

struct Options {
  std::string server_name = "gort.chat";
  // Idle this long, a client is sent PING; idle as long again, dropped.
  gort::Duration ping_interval = std::chrono::seconds(60);
  // Lines queued for a client before it is dropped with "SendQ exceeded".
  size_t sendq_lines = 1024;
  // How long a closing client's last lines may take to leave.
  gort::Duration close_grace = std::chrono::seconds(5);
};

class Hub {
 public:
  explicit Hub(Options opts) : opts_(std::move(opts)) {}
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  const Options& options() const { return opts_; }

  // A new connection's client, not yet registered.
  Client* add(ConnPtr conn);
  // Runs one line a client sent. False once the client asked to quit.
  bool handle_line(Client* c, const std::string& line, bool too_long);
  // Asks an idle client whether it is still there.
  void ping(Client* c);
  // Takes the client out of every channel and the nick table, tells its
  // channels why it left, queues the closing ERROR line (unless it was
  // killed) and closes its send queue. `reason` applies if nothing else set one.
  void remove(Client* c, const std::string& reason);

  size_t clients() const;

  // The connections' goroutines still running (session.cpp counts them), so
  // that whoever stops the server can wait until every one has ended.
  gort::WaitGroup goroutines;

 private:
  struct Channel {
    std::string name;  // as first joined
    std::string topic;
    std::vector<uint32_t> members;  // client slots, in joining order
  };

  // commands.cpp: one function per command.
  void dispatch(Client* c, const Message& m);
  void cmd_nick(Client* c, const Message& m);
  void cmd_user(Client* c, const Message& m);
  void cmd_cap(Client* c, const Message& m);
  void cmd_join(Client* c, const Message& m);
  void cmd_part(Client* c, const Message& m);
  void cmd_message(Client* c, const Message& m);
  void cmd_names(Client* c, const Message& m);
  void cmd_topic(Client* c, const Message& m);
  void cmd_mode(Client* c, const Message& m);
  void cmd_who(Client* c, const Message& m);
  void welcome(Client* c);
  void names(Client* c, const Channel& ch);

  // hub.cpp: delivery and the tables.
  Client* client(uint32_t slot) const { return slots_.get()[slot].get(); }
  void deliver(Client* c, OutLine line);
  void deliver(Client* c, const std::string& line) { deliver(c, share(line)); }
  void deliver_channel(const Channel& ch, const std::string& line, const Client* except);
  // To every client sharing a channel with c, once each (and to c itself).
  void deliver_neighbours(Client* c, const std::string& line, bool to_self);
  void numeric(Client* c, const char* code, std::vector<std::string> params);
  void leave(Channel& ch, Client* c);
  Channel* find_channel(const std::string& name);

  const Options opts_;
  mutable gort::Mutex mu_;
  gort::gc::root<gort::gc::ref<Client>> slots_;
  size_t capacity_ = 0;
  size_t used_ = 0;
  std::vector<uint32_t> free_slots_;
  std::unordered_map<std::string, uint32_t> nicks_;  // case-folded nick -> slot
  std::map<std::string, Channel> channels_;           // case-folded name -> channel
};

}  // namespace chat
