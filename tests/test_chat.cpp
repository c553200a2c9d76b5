// gort-chatd's protocol (tools/chat): every command it supports, its error
// numerics, and the malformed input it must survive, over the in-process
// transport and over loopback TCP, at each P count.
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gort/gort.hpp"
#include "support.hpp"
#include "tools/chat/histogram.hpp"
#include "tools/chat/hub.hpp"
#include "tools/chat/message.hpp"
#include "tools/chat/pipe_conn.hpp"
#include "tools/chat/session.hpp"
#include "tools/chat/tcp_conn.hpp"

using gort_test::kProcCounts;
using gort_test::procs;

namespace {

// A client as a test drives it: sends lines, reads lines.
class TestClient {
 public:
  explicit TestClient(chat::ConnPtr conn) : conn_(std::move(conn)) {}

  void send(const std::string& line) { send_raw(line + "\r\n"); }
  void send_raw(const std::string& bytes) { conn_->write(bytes); }

  // The next line without its CR LF; nothing at end of stream.
  std::optional<std::string> next() {
    for (;;) {
      const size_t nl = buf_.find("\r\n");
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 2);
        return line;
      }
      char tmp[4096];
      size_t n = 0;
      try {
        n = conn_->read(tmp, sizeof tmp);
      } catch (const chat::ConnError&) {
      }
      if (n == 0) return std::nullopt;
      buf_.append(tmp, n);
    }
  }

  // The next line; the stream must not end first.
  std::string line() {
    auto l = next();
    REQUIRE(l.has_value());
    return *l;
  }

  // Reads lines until one contains `needle`; returns it.
  std::string until(const std::string& needle) {
    for (;;) {
      std::string l = line();
      if (l.find(needle) != std::string::npos) return l;
    }
  }

  // Registers as nick and reads up to the end of the welcome.
  void login(const std::string& nick) {
    send("NICK " + nick);
    send("USER " + nick + " 0 * :" + nick + " real");
    until(" 422 ");
  }

  void join(const std::string& channel) {
    send("JOIN " + channel);
    until(" 366 ");
  }

  // True once every line up to the end of stream has been read.
  std::vector<std::string> rest() {
    std::vector<std::string> lines;
    while (auto l = next()) lines.push_back(*l);
    return lines;
  }

  void close() { conn_->close(); }
  void close_write() { conn_->close_write(); }

 private:
  chat::ConnPtr conn_;
  std::string buf_;
};

// A server over one of the two transports; connect() gives a client.
class Server {
 public:
  Server(bool tcp, chat::Options opts) : hub_(std::move(opts)), tcp_(tcp) {
    if (!tcp_) return;
    ln_ = gort::net::listen("tcp", "127.0.0.1:0");
    accepting_.add(1);
    gort::go([this] {
      try {
        for (;;) chat::serve(&hub_, chat::tcp_conn(ln_.accept()));
      } catch (const gort::net::Error&) {  // listener closed
      }
      accepting_.done();
    });
  }

  TestClient* connect() {
    chat::ConnPtr end;
    if (tcp_) {
      end = chat::tcp_conn(gort::net::dial("tcp", ln_.addr()));
    } else {
      auto [server_end, client_end] = chat::pipe_conn(4, "sim");
      chat::serve(&hub_, server_end);
      end = client_end;
    }
    clients_.push_back(std::make_unique<TestClient>(end));
    return clients_.back().get();
  }

  // Closes every client and waits for every goroutine of the server.
  void stop() {
    for (auto& c : clients_) c->close();
    if (tcp_) {
      ln_.close();
      accepting_.wait();
    }
    hub_.goroutines.wait();
    CHECK(hub_.clients() == 0);
  }

  std::string host() const { return tcp_ ? "127.0.0.1" : "sim"; }

 private:
  chat::Hub hub_;
  bool tcp_;
  gort::net::Listener ln_;
  gort::WaitGroup accepting_;
  std::vector<std::unique_ptr<TestClient>> clients_;
};

// Runs body against a fresh server for each transport at each P count.
void each_server(const std::function<void(Server&)>& body, chat::Options opts = {}, bool tcp_too = true) {
  for (const bool tcp : {false, true}) {
    if (tcp && !tcp_too) continue;
    for (const int n : kProcCounts) {
      INFO("tcp=" << tcp << " GOMAXPROCS=" << n);
      gort::run(
          [&] {
            {
              auto s = std::make_unique<Server>(tcp, opts);
              body(*s);
              s->stop();
            }
            // The clients are collected objects: their destructors (which
            // release their connections) run once a collection finds them.
            gort::gc::collect();
          },
          procs(n));
    }
  }
}

}  // namespace

TEST_CASE("chat: messages parse and format as RFC 2812 writes them", "[chat]") {
  auto m = chat::parse(":nick!u@h privmsg #chan :hello  world");
  REQUIRE(m);
  CHECK(m->prefix == "nick!u@h");
  CHECK(m->command == "PRIVMSG");
  CHECK(m->params == std::vector<std::string>{"#chan", "hello  world"});
  m = chat::parse("USER a 0 *  :");
  REQUIRE(m);
  CHECK(m->params == std::vector<std::string>{"a", "0", "*", ""});
  CHECK_FALSE(chat::parse(""));
  CHECK_FALSE(chat::parse(":prefix-only"));
  CHECK_FALSE(chat::parse("\xff\xfe garbage"));
  CHECK_FALSE(chat::parse(std::string("PING a\0b", 8)));
  CHECK(chat::parse("001 x :y"));
  CHECK(chat::format("s", "PRIVMSG", {"#c", "hi there"}) == ":s PRIVMSG #c :hi there\r\n");
  CHECK(chat::format("", "CAP", {"*", "LS", ""}) == "CAP * LS :\r\n");
  CHECK(chat::format("", "JOIN", {"#c"}) == "JOIN #c\r\n");
  CHECK(chat::format("", "NICK", {":)"}) == "NICK ::)\r\n");
  CHECK(chat::format("", "PRIVMSG", {"#c", ":)"}) == "PRIVMSG #c ::)\r\n");
  CHECK(chat::format("", "PRIVMSG", {"#c", std::string(600, 'x')}).size() == chat::kMaxLine);
  CHECK(chat::irc_lower("Nick[]\\~") == "nick{}|^");
}

TEST_CASE("chat: the load generator's histogram keeps quantiles within 1/64", "[chat]") {
  chat::Histogram h;
  for (int64_t v = 1; v <= 100000; ++v) h.record(v);
  CHECK(h.count() == 100000);
  CHECK(h.max() == 100000);
  for (const double q : {0.5, 0.99, 0.999}) {
    const double exact = q * 100000;
    CHECK(static_cast<double>(h.quantile(q)) >= exact);
    CHECK(static_cast<double>(h.quantile(q)) <= exact * (1 + 1.0 / 64) + 1);
  }
  chat::Histogram small;
  for (int v : {3, 3, 3, 7}) small.record(v);
  CHECK(small.quantile(0.5) == 3);
  CHECK(small.quantile(1.0) == 7);
  small.record(int64_t{1} << 62);
  CHECK(small.quantile(1.0) == int64_t{1} << 62);
}

TEST_CASE("chat: registration answers CAP, then welcomes with 001-004", "[chat]") {
  each_server([](Server& s) {
    TestClient* c = s.connect();
    c->send("CAP LS 302");
    CHECK(c->line() == ":gort.chat CAP * LS :");
    c->send("CAP REQ :multi-prefix");
    CHECK(c->line() == ":gort.chat CAP * NAK :multi-prefix");
    c->send("NICK alice");
    c->send("USER al 0 * :Alice A");
    c->send("CAP END");
    CHECK(c->line() == ":gort.chat 001 alice :Welcome to the gort chat network alice!al@" + s.host());
    CHECK(c->line().rfind(":gort.chat 002 alice ", 0) == 0);
    CHECK(c->line().rfind(":gort.chat 003 alice ", 0) == 0);
    CHECK(c->line() == ":gort.chat 004 alice gort.chat gort-chatd-0.1 i :nt");
    CHECK(c->line().rfind(":gort.chat 005 alice ", 0) == 0);
    CHECK(c->line() == ":gort.chat 422 alice :MOTD File is missing");
    // USER before NICK registers as well.
    TestClient* d = s.connect();
    d->send("USER bo 0 * :Bob");
    d->send("NICK bob");
    CHECK(d->line().rfind(":gort.chat 001 bob :", 0) == 0);
  });
}

TEST_CASE("chat: commands before registration get 451, bad ones 421 and 461", "[chat]") {
  each_server([](Server& s) {
    TestClient* c = s.connect();
    c->send("JOIN #a");
    CHECK(c->line() == ":gort.chat 451 * :You have not registered");
    c->send("PRIVMSG bob :hi");
    CHECK(c->line() == ":gort.chat 451 * :You have not registered");
    c->send("USER x");
    CHECK(c->line() == ":gort.chat 461 * USER :Not enough parameters");
    c->login("carol");
    c->send("FROBNICATE now");
    CHECK(c->line() == ":gort.chat 421 carol FROBNICATE :Unknown command");
    c->send("JOIN");
    CHECK(c->line() == ":gort.chat 461 carol JOIN :Not enough parameters");
    c->send("PART");
    CHECK(c->line() == ":gort.chat 461 carol PART :Not enough parameters");
    c->send("TOPIC");
    CHECK(c->line() == ":gort.chat 461 carol TOPIC :Not enough parameters");
    c->send("USER again 0 * :x");
    CHECK(c->line() == ":gort.chat 462 carol :You may not reregister");
  });
}

TEST_CASE("chat: nick errors 431, 432, 433 and nick changes seen by channel peers", "[chat]") {
  each_server([](Server& s) {
    TestClient* a = s.connect();
    a->send("NICK");
    CHECK(a->line() == ":gort.chat 431 * :No nickname given");
    a->send("NICK 9lives");
    CHECK(a->line() == ":gort.chat 432 * 9lives :Erroneous nickname");
    a->send("NICK " + std::string(31, 'n'));
    CHECK(a->line().find(" 432 ") != std::string::npos);
    a->login("dave");
    TestClient* b = s.connect();
    b->send("NICK DAVE");
    CHECK(b->line() == ":gort.chat 433 * DAVE :Nickname is already in use");
    b->login("erin");
    a->join("#room");
    b->join("#room");
    a->until("JOIN #room");  // erin's join
    a->send("NICK dave2");
    CHECK(a->line() == ":dave!dave@" + s.host() + " NICK dave2");
    CHECK(b->line() == ":dave!dave@" + s.host() + " NICK dave2");
    // The old nick is free again.
    TestClient* c = s.connect();
    c->login("dave");
  });
}

TEST_CASE("chat: JOIN, NAMES, PRIVMSG and NOTICE to a channel, PART", "[chat]") {
  each_server([](Server& s) {
    TestClient* a = s.connect();
    TestClient* b = s.connect();
    TestClient* outsider = s.connect();
    a->login("ann");
    b->login("ben");
    outsider->login("oli");
    const std::string ann = ":ann!ann@" + s.host(), ben = ":ben!ben@" + s.host();
    a->send("JOIN #Chat");
    CHECK(a->line() == ann + " JOIN #Chat");
    CHECK(a->line() == ":gort.chat 353 ann = #Chat :ann");
    CHECK(a->line() == ":gort.chat 366 ann #Chat :End of /NAMES list");
    b->send("JOIN #chat");
    CHECK(b->line() == ben + " JOIN #Chat");
    CHECK(b->line() == ":gort.chat 353 ben = #Chat :ann ben");
    CHECK(b->line() == ":gort.chat 366 ben #Chat :End of /NAMES list");
    CHECK(a->line() == ben + " JOIN #Chat");
    a->send("NAMES #chat");
    CHECK(a->line() == ":gort.chat 353 ann = #Chat :ann ben");
    CHECK(a->line() == ":gort.chat 366 ann #Chat :End of /NAMES list");
    a->send("PRIVMSG #chat :hello, ben");
    CHECK(b->line() == ann + " PRIVMSG #chat :hello, ben");
    b->send("NOTICE #chat :noted");
    CHECK(a->line() == ben + " NOTICE #chat :noted");
    outsider->send("PRIVMSG #chat :let me in");
    CHECK(outsider->line() == ":gort.chat 404 oli #Chat :Cannot send to channel");
    b->send("PART #chat :later");
    CHECK(b->line() == ben + " PART #Chat :later");
    CHECK(a->line() == ben + " PART #Chat :later");
    b->send("PART #chat");
    CHECK(b->line() == ":gort.chat 442 ben #Chat :You're not on that channel");
    b->send("PART #nowhere");
    CHECK(b->line() == ":gort.chat 403 ben #nowhere :No such channel");
    b->send("JOIN nohash");
    CHECK(b->line() == ":gort.chat 403 ben nohash :No such channel");
    // The sender never hears its own channel message; ben, gone, neither.
    a->send("PRIVMSG #chat :alone");
    a->send("PING sync");
    CHECK(a->line() == ":gort.chat PONG gort.chat :sync");
    b->send("PING sync");
    CHECK(b->line() == ":gort.chat PONG gort.chat :sync");
  });
}

TEST_CASE("chat: PRIVMSG and NOTICE to a nick, 401, 411, 412", "[chat]") {
  each_server([](Server& s) {
    TestClient* a = s.connect();
    TestClient* b = s.connect();
    a->login("amy");
    b->login("bo");
    a->send("PRIVMSG Bo :psst");
    CHECK(b->line() == ":amy!amy@" + s.host() + " PRIVMSG Bo :psst");
    a->send("NOTICE bo :fyi");
    CHECK(b->line() == ":amy!amy@" + s.host() + " NOTICE bo :fyi");
    a->send("PRIVMSG ghost :hello?");
    CHECK(a->line() == ":gort.chat 401 amy ghost :No such nick/channel");
    a->send("PRIVMSG");
    CHECK(a->line() == ":gort.chat 411 amy :No recipient given (PRIVMSG)");
    a->send("PRIVMSG bo");
    CHECK(a->line() == ":gort.chat 412 amy :No text to send");
    a->send("PRIVMSG #none :x");
    CHECK(a->line() == ":gort.chat 403 amy #none :No such channel");
    // NOTICE errors are silent: the PONG is the next line.
    a->send("NOTICE ghost :hello?");
    a->send("PING x");
    CHECK(a->line() == ":gort.chat PONG gort.chat :x");
  });
}

TEST_CASE("chat: TOPIC query, set, 331/332, 442", "[chat]") {
  each_server([](Server& s) {
    TestClient* a = s.connect();
    TestClient* b = s.connect();
    a->login("tia");
    b->login("tom");
    a->join("#t");
    a->send("TOPIC #t");
    CHECK(a->line() == ":gort.chat 331 tia #t :No topic is set");
    b->send("TOPIC #t :mine now");
    CHECK(b->line() == ":gort.chat 442 tom #t :You're not on that channel");
    a->send("TOPIC #t :gort chat");
    CHECK(a->line() == ":tia!tia@" + s.host() + " TOPIC #t :gort chat");
    b->send("TOPIC #t");
    CHECK(b->line() == ":gort.chat 332 tom #t :gort chat");
    b->send("JOIN #t");
    CHECK(b->line() == ":tom!tom@" + s.host() + " JOIN #t");
    CHECK(b->line() == ":gort.chat 332 tom #t :gort chat");
    b->send("TOPIC #gone");
    b->until(" 366 ");
    CHECK(b->line() == ":gort.chat 403 tom #gone :No such channel");
  });
}

TEST_CASE("chat: QUIT ends with ERROR and tells the channel", "[chat]") {
  each_server([](Server& s) {
    TestClient* a = s.connect();
    TestClient* b = s.connect();
    a->login("quinn");
    b->login("rita");
    a->join("#q");
    b->join("#q");
    a->until("rita");
    b->send("QUIT :gone fishing");
    CHECK(b->line() == "ERROR :Closing Link: " + s.host() + " (Quit: gone fishing)");
    CHECK(b->rest().empty());
    CHECK(a->line() == ":rita!rita@" + s.host() + " QUIT :Quit: gone fishing");
    a->send("NAMES #q");
    CHECK(a->line() == ":gort.chat 353 quinn = #q :quinn");
  });
}

TEST_CASE("chat: PING answered, idle client pinged and dropped when it stops answering", "[chat]") {
  chat::Options opts;
  // Long enough that the clients that do answer (the watcher, and the idle
  // client's first answer) answer in time on a loaded TSan run: at 50 ms
  // the watcher was once dropped too, before it could see the QUIT.
  opts.ping_interval = std::chrono::milliseconds(200);
  each_server(
      [](Server& s) {
        TestClient* a = s.connect();
        TestClient* watcher = s.connect();
        a->login("idle");
        watcher->login("watch");
        a->join("#p");
        watcher->join("#p");
        // The watcher answers its own pings all along and reports the
        // first QUIT it sees (or "" if its stream ends first). It makes no
        // assertion itself: Catch's are for the test's own thread.
        auto quit = gort::make_chan<std::string>(1);
        gort::go([watcher, quit] {
          while (auto l = watcher->next()) {
            if (*l == "PING gort.chat") watcher->send("PONG gort.chat");
            if (l->find(" QUIT ") != std::string::npos) return quit.send(*l);
          }
          quit.send("");
        });
        a->send("PING :are you there");
        CHECK(a->until("PONG") == ":gort.chat PONG gort.chat :are you there");
        a->send("PING");
        CHECK(a->until(" 409 ") == ":gort.chat 409 idle :No origin specified");
        // Idle: asked, answers, is asked again, stays silent, is dropped.
        CHECK(a->until("PING") == "PING gort.chat");
        a->send("PONG gort.chat");
        CHECK(a->until("PING") == "PING gort.chat");
        CHECK(a->until("ERROR") == "ERROR :Closing Link: " + s.host() + " (Ping timeout)");
        CHECK(a->rest().empty());
        CHECK(quit.recv() == ":idle!idle@" + s.host() + " QUIT :Ping timeout");
      },
      opts);
}

TEST_CASE("chat: lines over 512 bytes get 417, the line after is served", "[chat]") {
  each_server([](Server& s) {
    TestClient* a = s.connect();
    TestClient* b = s.connect();
    a->login("long");
    b->login("read");
    a->send("PRIVMSG read :" + std::string(600, 'x'));
    CHECK(a->line() == ":gort.chat 417 long :Input line was too long");
    // A line of exactly 512 bytes, CR LF included, is still served.
    const std::string head = "PRIVMSG read :";
    const std::string text(510 - head.size(), 'y');
    a->send(head + text);
    CHECK(b->line() == ":long!long@" + s.host() + " PRIVMSG read :" + text.substr(0, 510 - 26 - s.host().size()));
    a->send_raw(std::string(5000, 'z') + "\r\nPING after\r\n");
    CHECK(a->line() == ":gort.chat 417 long :Input line was too long");
    CHECK(a->line() == ":gort.chat PONG gort.chat :after");
  });
}

TEST_CASE("chat: binary garbage is dropped and the connection keeps serving", "[chat]") {
  each_server([](Server& s) {
    TestClient* a = s.connect();
    a->login("bin");
    a->send_raw(std::string("\x00\x01\xff\xfe\r\n", 6));
    a->send_raw("\xc3\x28\xa0\xa1 junk\n\r\n\n:prefix.only\r\n");
    a->send_raw(std::string("PRIVMSG bin :a\0b\r\n", 18));
    a->send("PING still-here");
    CHECK(a->line() == ":gort.chat PONG gort.chat :still-here");
  });
}

TEST_CASE("chat: a flood of commands is answered in order, others unaffected", "[chat]") {
  static constexpr int kFlood = 3000;
  chat::Options opts;
  // Room for every answer: here the flooder reads, and is not to be
  // dropped for reading later than the server answers.
  opts.sendq_lines = 2 * kFlood;
  each_server([](Server& s) {
    TestClient* f = s.connect();
    TestClient* a = s.connect();
    TestClient* b = s.connect();
    f->login("flood");
    a->login("a");
    b->login("b");
    gort::WaitGroup sent;
    sent.add(1);
    gort::go([&] {
      std::string burst;
      for (int i = 0; i < kFlood; ++i) burst += "PING " + std::to_string(i) + "\r\n";
      f->send_raw(burst);
      sent.done();
    });
    for (int i = 0; i < 100; ++i) {
      a->send("PRIVMSG b :" + std::to_string(i));
      CHECK(b->line() == ":a!a@" + s.host() + " PRIVMSG b :" + std::to_string(i));
    }
    for (int i = 0; i < kFlood; ++i) REQUIRE(f->line() == ":gort.chat PONG gort.chat :" + std::to_string(i));
    sent.wait();
  }, opts);
}

TEST_CASE("chat: a client that never reads is dropped with SendQ exceeded, no one else loses a line", "[chat]") {
  chat::Options opts;
  opts.sendq_lines = 16;
  static constexpr int kMessages = 200;
  // Over TCP the kernel's socket buffers would take megabytes first; the
  // in-process transport's bounded pipe shows the same path.
  each_server(
      [](Server& s) {
        TestClient* slow = s.connect();
        TestClient* talker = s.connect();
        TestClient* listener = s.connect();
        slow->login("slow");
        talker->login("talker");
        listener->login("listener");
        slow->join("#busy");
        talker->join("#busy");
        listener->join("#busy");
        talker->until("listener");
        bool slow_quit = false;
        for (int i = 0; i < kMessages; ++i) {
          talker->send("PRIVMSG #busy :" + std::to_string(i));
          for (;;) {
            const std::string l = listener->line();
            if (l == ":slow!slow@sim QUIT :SendQ exceeded") {
              CHECK_FALSE(slow_quit);
              slow_quit = true;
              continue;
            }
            REQUIRE(l == ":talker!talker@sim PRIVMSG #busy :" + std::to_string(i));
            break;
          }
          // In step: the talker's next line waits for this one's delivery.
          talker->send("PING " + std::to_string(i));
          REQUIRE(talker->until("PONG") == ":gort.chat PONG gort.chat :" + std::to_string(i));
        }
        // The slow client's teardown runs on its own goroutines and may
        // trail the last message; it is then the next thing heard.
        if (!slow_quit) CHECK(listener->line() == ":slow!slow@sim QUIT :SendQ exceeded");
        // What the slow client gets is cut off, never an unbounded backlog.
        const auto got = slow->rest();
        CHECK(got.size() < kMessages);
      },
      opts, false);
}

TEST_CASE("chat: a half-closed client gets its answers and ERROR, then end of stream", "[chat]") {
  each_server([](Server& s) {
    TestClient* a = s.connect();
    TestClient* b = s.connect();
    b->login("stay");
    b->join("#h");
    a->send("NICK half");
    a->send("USER half 0 * :Half");
    a->send("JOIN #h");
    a->send("PRIVMSG #h :last words");
    a->close_write();
    a->until(" 366 ");
    const auto rest = a->rest();
    REQUIRE_FALSE(rest.empty());
    CHECK(rest.back() == "ERROR :Closing Link: " + s.host() + " (Connection closed)");
    CHECK(b->line() == ":half!half@" + s.host() + " JOIN #h");
    CHECK(b->line() == ":half!half@" + s.host() + " PRIVMSG #h :last words");
    CHECK(b->line() == ":half!half@" + s.host() + " QUIT :Connection closed");
  });
}

TEST_CASE("chat: MODE and WHO get the answers clients expect after a join", "[chat]") {
  each_server([](Server& s) {
    TestClient* a = s.connect();
    a->login("mo");
    a->join("#m");
    a->send("MODE #m");
    CHECK(a->line() == ":gort.chat 324 mo #m :+nt");
    a->send("MODE #m b");
    CHECK(a->line() == ":gort.chat 368 mo #m :End of channel ban list");
    a->send("MODE mo");
    CHECK(a->line() == ":gort.chat 221 mo :+");
    a->send("MODE mo +i");
    CHECK(a->line() == ":gort.chat 501 mo :Unknown MODE flag");
    a->send("WHO #m");
    CHECK(a->line() == ":gort.chat 315 mo #m :End of WHO list");
  });
}
