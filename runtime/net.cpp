// gort::net on the netpoller: non-blocking sockets, EAGAIN turned into a
// park on the socket's PollDesc (Go's internal/poll.FD).
#include "gort/net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "gort/runtime.hpp"
#include "runtime/internal/nanotime.hpp"
#include "sched/netpoll.hpp"

namespace gort::net {

namespace detail {

// A socket shared by every Conn/Listener copy. `state` counts operations in
// flight (in steps of 2) and keeps a closing bit (1): close() wakes blocked
// operations at once, and the last one out closes the descriptor, so it is
// never reused under a goroutine still inside read() or write().
struct NetFD {
  int fd = -1;
  sched::PollDesc* pd = nullptr;
  std::string network;
  std::string laddr;
  std::string raddr;
  std::atomic<uint32_t> state{0};
  std::atomic<bool> released{false};

  ~NetFD() { release(); }

  void release() {
    if (released.exchange(true)) return;
    if (pd) sched::netpoll_close_fd(pd);
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace detail

namespace {

using detail::NetFD;

std::string errno_text(int err) {
  std::string s = std::strerror(err);
  if (!s.empty()) s[0] = char(std::tolower(static_cast<unsigned char>(s[0])));
  return s;
}

std::string describe(const char* op, const NetFD& fd) {
  std::string s = std::string(op) + " " + fd.network + " ";
  if (!fd.laddr.empty() && !fd.raddr.empty()) s += fd.laddr + "->" + fd.raddr;
  else s += fd.raddr.empty() ? fd.laddr : fd.raddr;
  return s;
}

[[noreturn]] void fail(const char* op, const NetFD& fd, int err) {
  throw Error(describe(op, fd) + ": " + errno_text(err), err, false);
}

[[noreturn]] void fail_poll(const char* op, const NetFD& fd, sched::PollResult r) {
  if (r == sched::PollResult::kTimeout) throw Error(describe(op, fd) + ": i/o timeout", ETIMEDOUT, true);
  throw Error(describe(op, fd) + ": use of closed network connection", EBADF, false);
}

// One operation in flight on fd; refuses to start on a closed socket.
class Op {
 public:
  Op(NetFD& fd, const char* name) : fd_(fd) {
    gort::safepoint();
    if (fd_.state.fetch_add(2, std::memory_order_acq_rel) & 1) {
      end();
      fail_poll(name, fd_, sched::PollResult::kClosed);
    }
  }
  ~Op() { end(); }

 private:
  void end() {
    if (fd_.state.fetch_sub(2, std::memory_order_acq_rel) - 2 == 1) fd_.release();
  }
  NetFD& fd_;
};

void close_fd(NetFD& fd) {
  if (fd.state.fetch_or(1, std::memory_order_acq_rel) & 1) return;  // already closed
  sched::netpoll_evict(fd.pd);
  if (fd.state.load(std::memory_order_acquire) == 1) fd.release();
}

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
};

std::string format_addr(const sockaddr* sa, socklen_t len) {
  char host[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    std::string out = "[";
    out.append(host).append("]:").append(std::to_string(ntohs(in6->sin6_port)));
    return out;
  }
  if (sa->sa_family == AF_UNIX) {
    auto* un = reinterpret_cast<const sockaddr_un*>(sa);
    const size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    // An abstract socket's name starts with a NUL byte, which Go shows as '@'.
    if (n > 0 && un->sun_path[0] == '\0') return std::string(1, '@').append(un->sun_path + 1, n - 1);
    return std::string(un->sun_path, strnlen(un->sun_path, n));
  }
  return "?";
}

[[noreturn]] void bad_address(const std::string& op, const std::string& network, const std::string& address,
                              const std::string& why) {
  throw Error(op + " " + network + " " + address + ": " + why, EINVAL, false);
}

// Resolves "host:port" (or a unix path) for network.
SockAddr resolve(const std::string& op, const std::string& network, const std::string& address) {
  SockAddr a;
  if (network == "unix") {
    auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
    un->sun_family = AF_UNIX;
    if (address.empty() || address.size() >= sizeof un->sun_path)
      bad_address(op, network, address, "invalid unix socket path");
    std::memcpy(un->sun_path, address.data(), address.size());
    if (address[0] == '@') un->sun_path[0] = '\0';  // abstract namespace
    a.len = socklen_t(offsetof(sockaddr_un, sun_path) + address.size() + (address[0] == '@' ? 0 : 1));
    return a;
  }
  if (network != "tcp" && network != "tcp4" && network != "tcp6") bad_address(op, network, address, "unknown network");
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) bad_address(op, network, address, "missing port in address");
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  char* end = nullptr;
  const long portnum = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || portnum < 0 || portnum > 65535) bad_address(op, network, address, "invalid port");

  auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (host.empty()) {
    // Go listens on every address; "tcp" means dual-stack.
    if (network == "tcp4") {
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl(op == "dial" ? INADDR_LOOPBACK : INADDR_ANY);
      in->sin_port = htons(uint16_t(portnum));
      a.len = sizeof(sockaddr_in);
    } else {
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = op == "dial" ? in6addr_loopback : in6addr_any;
      in6->sin6_port = htons(uint16_t(portnum));
      a.len = sizeof(sockaddr_in6);
    }
    return a;
  }
  if (network != "tcp6" && inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(uint16_t(portnum));
    a.len = sizeof(sockaddr_in);
    return a;
  }
  if (network != "tcp4" && inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(uint16_t(portnum));
    a.len = sizeof(sockaddr_in6);
    return a;
  }
  // A name: getaddrinfo blocks its thread, so it runs as a blocking call.
  addrinfo hints{};
  hints.ai_family = network == "tcp4" ? AF_INET : network == "tcp6" ? AF_INET6 : AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = gort::blocking([&] { return getaddrinfo(host.c_str(), port.c_str(), &hints, &res); });
  if (rc != 0 || !res) bad_address(op, network, address, std::string("lookup ") + host + ": " + gai_strerror(rc));
  std::memcpy(&a.storage, res->ai_addr, res->ai_addrlen);
  a.len = res->ai_addrlen;
  freeaddrinfo(res);
  return a;
}

std::shared_ptr<NetFD> open_fd(int fd, const std::string& network, const char* op) {
  auto nfd = std::make_shared<NetFD>();
  nfd->fd = fd;
  nfd->network = network;
  nfd->pd = sched::netpoll_open(fd);
  if (!nfd->pd) {
    const int err = errno;
    nfd->fd = -1;
    ::close(fd);
    fail(op, *nfd, err);
  }
  return nfd;
}

void fill_addrs(NetFD& fd) {
  SockAddr a;
  a.len = sizeof a.storage;
  if (getsockname(fd.fd, a.get(), &a.len) == 0) fd.laddr = format_addr(a.get(), a.len);
  a.len = sizeof a.storage;
  if (getpeername(fd.fd, a.get(), &a.len) == 0) fd.raddr = format_addr(a.get(), a.len);
}

void set_deadline(NetFD& fd, bool read, bool write, Time t) {
  const int64_t when = t == Time{} ? 0 : t.time_since_epoch().count();
  if (read) sched::netpoll_set_deadline(fd.pd, false, when);
  if (write) sched::netpoll_set_deadline(fd.pd, true, when);
}

}  // namespace

size_t Conn::read(void* buf, size_t n) {
  NetFD& fd = *fd_;
  Op op(fd, "read");
  for (;;) {
    const ssize_t r = ::read(fd.fd, buf, n);
    if (r >= 0) return size_t(r);
    if (errno == EINTR) continue;
    if (errno != EAGAIN) fail("read", fd, errno);
    const auto res = sched::netpoll_wait(fd.pd, false);
    if (res != sched::PollResult::kReady) fail_poll("read", fd, res);
  }
}

bool Conn::read_full(void* buf, size_t n) {
  auto* p = static_cast<char*>(buf);
  while (n > 0) {
    const size_t got = read(p, n);
    if (got == 0) return false;
    p += got;
    n -= got;
  }
  return true;
}

void Conn::write(const void* buf, size_t n) {
  NetFD& fd = *fd_;
  Op op(fd, "write");
  auto* p = static_cast<const char*>(buf);
  while (n > 0) {
    // send, not write: MSG_NOSIGNAL turns a dead peer into EPIPE, not SIGPIPE.
    const ssize_t r = ::send(fd.fd, p, n, MSG_NOSIGNAL);
    if (r >= 0) {
      p += r;
      n -= size_t(r);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) fail("write", fd, errno);
    const auto res = sched::netpoll_wait(fd.pd, true);
    if (res != sched::PollResult::kReady) fail_poll("write", fd, res);
  }
}

void Conn::close_write() {
  Op op(*fd_, "close");
  if (::shutdown(fd_->fd, SHUT_WR) != 0) fail("close", *fd_, errno);
}

void Conn::close() {
  if (fd_) close_fd(*fd_);
}

void Conn::set_deadline(Time t) { net::set_deadline(*fd_, true, true, t); }
void Conn::set_read_deadline(Time t) { net::set_deadline(*fd_, true, false, t); }
void Conn::set_write_deadline(Time t) { net::set_deadline(*fd_, false, true, t); }
std::string Conn::local_addr() const { return fd_ ? fd_->laddr : ""; }
std::string Conn::remote_addr() const { return fd_ ? fd_->raddr : ""; }

Conn Listener::accept() {
  NetFD& fd = *fd_;
  Op op(fd, "accept");
  for (;;) {
    SockAddr a;
    a.len = sizeof a.storage;
    const int c = ::accept4(fd.fd, a.get(), &a.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) {
      auto conn = open_fd(c, fd.network, "accept");
      if (fd.network != "unix") {
        const int one = 1;
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as Go does
      }
      fill_addrs(*conn);
      return Conn(conn);
    }
    // A connection that died in the backlog is the peer's problem, not ours.
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN) fail("accept", fd, errno);
    const auto res = sched::netpoll_wait(fd.pd, false);
    if (res != sched::PollResult::kReady) fail_poll("accept", fd, res);
  }
}

void Listener::close() {
  if (!fd_) return;
  if (fd_->network == "unix" && !fd_->laddr.empty() && fd_->laddr[0] != '@') ::unlink(fd_->laddr.c_str());
  close_fd(*fd_);
}

std::string Listener::addr() const { return fd_ ? fd_->laddr : ""; }

namespace {

// A non-blocking socket for op on network/address, registered with the
// netpoller, and the address it is for.
std::pair<std::shared_ptr<NetFD>, SockAddr> new_socket(const char* op, const std::string& network,
                                                       const std::string& address) {
  gort::safepoint();
  SockAddr a = resolve(op, network, address);
  const int s = ::socket(a.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) bad_address(op, network, address, errno_text(errno));
  return {open_fd(s, network, op), a};
}

}  // namespace

Listener listen(const std::string& network, const std::string& address) {
  auto [fd, a] = new_socket("listen", network, address);
  const int s = fd->fd;
  fd->laddr = address;
  const int one = 1, zero = 0;
  if (network != "unix") setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (a.storage.ss_family == AF_INET6)
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, network == "tcp6" ? &one : &zero, sizeof one);
  if (::bind(s, a.get(), a.len) != 0) fail("listen", *fd, errno);
  if (::listen(s, SOMAXCONN) != 0) fail("listen", *fd, errno);
  fill_addrs(*fd);
  return Listener(fd);
}

Conn dial(const std::string& network, const std::string& address) {
  auto [fd, a] = new_socket("dial", network, address);
  const int s = fd->fd;
  fd->raddr = address;
  if (::connect(s, a.get(), a.len) != 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) fail("dial", *fd, errno);
    Op op(*fd, "dial");
    const auto res = sched::netpoll_wait(fd->pd, true);
    if (res != sched::PollResult::kReady) fail_poll("dial", *fd, res);
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) fail("dial", *fd, err);
  }
  if (network != "unix") {
    const int one = 1;
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // as Go does
  }
  fill_addrs(*fd);
  return Conn(fd);
}

}  // namespace gort::net
