// gort-chatd: an IRC server for the subset of the protocol real clients
// need, on gort's goroutines (see README.md, "Chat server").
//
//   gort-chatd [-listen host:port] [-name server.name] [-ping seconds] [-sendq lines]
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "gort/gort.hpp"
#include "hub.hpp"
#include "session.hpp"
#include "tcp_conn.hpp"

namespace {

int usage() {
  std::fprintf(stderr, "usage: gort-chatd [-listen host:port] [-name server.name] [-ping seconds] [-sendq lines]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:6667";
  chat::Options opts;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) return usage();
    const std::string value = argv[++i];
    if (flag == "-listen") listen = value;
    else if (flag == "-name") opts.server_name = value;
    else if (flag == "-ping") opts.ping_interval = std::chrono::seconds(std::atol(value.c_str()));
    else if (flag == "-sendq") opts.sendq_lines = std::strtoul(value.c_str(), nullptr, 10);
    else return usage();
  }
  if (opts.ping_interval <= gort::Duration::zero() || opts.sendq_lines == 0) return usage();
  return gort::run([&] {
    auto hub = std::make_unique<chat::Hub>(opts);
    gort::net::Listener ln;
    try {
      ln = gort::net::listen("tcp", listen);
    } catch (const gort::net::Error& e) {
      std::fprintf(stderr, "gort-chatd: %s\n", e.what());
      return 1;
    }
    std::fprintf(stderr, "gort-chatd: listening on %s\n", ln.addr().c_str());
    for (;;) {
      try {
        chat::serve(hub.get(), chat::tcp_conn(ln.accept()));
      } catch (const gort::net::Error& e) {
        // Out of file descriptors and the like: the listener goes on.
        std::fprintf(stderr, "gort-chatd: accept: %s\n", e.what());
        gort::sleep(std::chrono::milliseconds(100));
      }
    }
  });
}
