// Goroutine dumps: SIGQUIT, gort::dump_goroutines and the unrecovered
// panic's report. Each goroutine parks in a function of its own, so a dump
// can be checked for the goroutine's wait reason and for that function
// among its frames.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gort/gort.hpp"
#include "sched/garena.hpp"
#include "sched/sched.hpp"
#include "support.hpp"

using gort_test::kProcCounts;
using gort_test::procs;

namespace {

// One goroutine of a dump: its header's parts and its frames.
struct Goroutine {
  std::string state;
  long waited_ms = -1;  // -1: no wait time printed
  std::string frames;
};

// A header: "goroutine 7 [chan receive]:" or "goroutine 7 [chan receive, 12 ms]:"
// (or ", 3 minutes"). Returns false for any other line.
bool parse_header(const std::string& line, uint64_t* id, Goroutine* g) {
  static const std::string kStart = "goroutine ";
  if (line.compare(0, kStart.size(), kStart) != 0 || line.size() < 3 || line.compare(line.size() - 2, 2, "]:") != 0)
    return false;
  size_t at = kStart.size();
  const size_t open = line.find(" [", at);
  if (open == std::string::npos || open == at || line.find_first_not_of("0123456789", at) != open) return false;
  *id = std::stoull(line.substr(at, open - at));
  std::string inside = line.substr(open + 2, line.size() - 2 - (open + 2));
  const size_t comma = inside.rfind(", ");
  if (comma != std::string::npos) {
    std::istringstream wait(inside.substr(comma + 2));
    long n = 0;
    std::string unit;
    if (wait >> n >> unit && (unit == "ms" || unit == "minutes")) {
      g->waited_ms = n * (unit == "minutes" ? 60000 : 1);
      inside.resize(comma);
    }
  }
  g->state = inside;
  return true;
}

std::map<uint64_t, Goroutine> parse_dump(const std::string& text) {
  std::map<uint64_t, Goroutine> out;
  std::istringstream in(text);
  std::string line;
  Goroutine* current = nullptr;
  while (std::getline(in, line)) {
    uint64_t id = 0;
    Goroutine header;
    if (parse_header(line, &id, &header)) {
      current = &out[id];
      *current = header;
    } else if (line.empty()) {
      current = nullptr;
    } else if (current) {
      current->frames += line + "\n";
    }
  }
  return out;
}

// Runs cond until it holds, yielding in between: how long that takes is no
// part of what is tested. Not sleeping: a sleeper's timer is kept by its P,
// which may be the one spin_without_safepoints holds for good.
template <class F>
void wait_until(F cond) {
  while (!cond()) gort::yield();
}

// Is goroutine id parked for this reason, or inside gort::blocking?
bool parked(uint64_t id, const char* reason) {
  const auto& arena = gort::sched::GArena::get();
  for (size_t i = 0, n = arena.count(); i < n; ++i) {
    const gort::sched::G* g = arena.at(i);
    if (g->id != id) continue;
    const auto st = g->status.load();
    if (reason) return st == gort::sched::GStatus::kWaiting && g->wait_reason == std::string(reason);
    return st == gort::sched::GStatus::kRunning && g->m && g->m->in_blocking_call();
  }
  return false;
}

// The goroutines, each parked in a function named for what it waits in. The
// work after each blocking call keeps the call from being a tail call,
// whose frame would be gone.
std::atomic<long> sink{0};
std::atomic<bool> spinning{false};

__attribute__((noinline)) void park_in_chan_receive(gort::chan<int> c) { sink += c.recv(); }
__attribute__((noinline)) void park_in_chan_send(gort::chan<int> c) {
  c.send(1);
  sink += 1;
}
__attribute__((noinline)) void park_in_select(gort::chan<int> a, gort::chan<int> b) {
  gort::select(gort::recv(a, [](int v) { sink += v; }), gort::recv(b, [](int v) { sink += v; }));
  sink += 1;
}
__attribute__((noinline)) void park_in_sleep() {
  gort::sleep(std::chrono::hours(1));
  sink += 1;
}
__attribute__((noinline)) void park_in_mutex(gort::Mutex& mu) {
  mu.lock();
  sink += 1;
  mu.unlock();
}
__attribute__((noinline)) void park_in_waitgroup(gort::WaitGroup& wg) {
  wg.wait();
  sink += 1;
}
__attribute__((noinline)) void park_in_cond(gort::Mutex& mu, gort::Cond& cond, bool& go_on) {
  mu.lock();
  while (!go_on) cond.wait();
  mu.unlock();
  sink += 1;
}
__attribute__((noinline)) void spin_without_safepoints(const std::atomic<bool>& stop) {
  spinning = true;
  while (!stop.load(std::memory_order_relaxed)) sink.fetch_add(1, std::memory_order_relaxed);
}
__attribute__((noinline)) void block_in_read(int fd) {
  char c;
  gort::blocking([&] { return ::read(fd, &c, 1); });
  sink += 1;
}

// The expected park of each goroutine: its wait reason (or state) and the
// function it parks in.
struct Expect {
  uint64_t id = 0;
  const char* state;
  const char* function;
};

// Starts a goroutine parked in each of the functions above and returns,
// once all are parked, what a dump should show. `release` undoes it all.
struct Parked {
  gort::chan<int> recv_c = gort::make_chan<int>(), send_c = gort::make_chan<int>(), sel_a = gort::make_chan<int>(),
                  sel_b = gort::make_chan<int>();
  gort::Mutex mu, cond_mu;
  gort::Cond cond{cond_mu};
  bool cond_go_on = false;
  gort::WaitGroup wg;
  std::atomic<size_t> finished{0};
  std::atomic<bool> stop_spinning{false};
  int pipe_fds[2] = {-1, -1};
  std::vector<Expect> expect;

  void start() {
    REQUIRE(pipe(pipe_fds) == 0);
    mu.lock();
    wg.add(1);
    auto spawn = [this](const char* state, const char* function, auto body) {
      auto* e = &expect.emplace_back(Expect{0, state, function});
      std::atomic<uint64_t> id{0};
      gort::go([&id, body, this] {
        id = gort::goid();
        body();
        ++finished;
      });
      wait_until([&] { return id.load() != 0; });
      e->id = id;
    };
    expect.reserve(9);
    spawn("chan receive", "park_in_chan_receive", [this] { park_in_chan_receive(recv_c); });
    spawn("chan send", "park_in_chan_send", [this] { park_in_chan_send(send_c); });
    spawn("select", "park_in_select", [this] { park_in_select(sel_a, sel_b); });
    spawn("sleep", "park_in_sleep", [] { park_in_sleep(); });
    spawn("sync.Mutex.Lock", "park_in_mutex", [this] { park_in_mutex(mu); });
    spawn("sync.WaitGroup.Wait", "park_in_waitgroup", [this] { park_in_waitgroup(wg); });
    spawn("sync.Cond.Wait", "park_in_cond", [this] { park_in_cond(cond_mu, cond, cond_go_on); });
    spawn("syscall", "block_in_read", [this] { block_in_read(pipe_fds[0]); });
    spawn("running", "spin_without_safepoints", [this] { spin_without_safepoints(stop_spinning); });
    for (const Expect& e : expect) {
      if (std::string(e.state) == "running") wait_until([] { return spinning.load(); });
      else if (std::string(e.state) == "syscall") wait_until([&] { return parked(e.id, nullptr); });
      else wait_until([&] { return parked(e.id, e.state); });
    }
  }

  void release() {
    recv_c.send(1);
    send_c.recv();
    sel_a.send(1);
    mu.unlock();
    wg.done();
    cond_mu.lock();
    cond_go_on = true;
    cond.signal();
    cond_mu.unlock();
    REQUIRE(::write(pipe_fds[1], "x", 1) == 1);
    stop_spinning = true;
    // park_in_sleep sleeps for an hour: it is left parked, as main's return
    // leaves it in Go.
    wait_until([this] { return finished.load() == expect.size() - 1; });
    close(pipe_fds[0]);
    close(pipe_fds[1]);
  }
};

// Under ThreadSanitizer the stop signal's handler runs late, from inside
// TSan's runtime, whose frames keep no frame pointers: the walk of a
// goroutine stopped by signal there ends at them (sched/README.md).
#if defined(__SANITIZE_THREAD__)
constexpr bool kSignalStacksCut = true;
#else
constexpr bool kSignalStacksCut = false;
#endif

void check_dump(const std::string& text, const std::vector<Expect>& expect) {
  INFO(text);
  const auto gs = parse_dump(text);
  for (const Expect& e : expect) {
    INFO("goroutine " << e.id << " parked in " << e.function);
    REQUIRE(gs.count(e.id) == 1);
    const Goroutine& g = gs.at(e.id);
    CHECK(g.state == e.state);
    const bool parked_one = std::string(e.state) != "running" && std::string(e.state) != "syscall";
    if (parked_one || !kSignalStacksCut) CHECK(g.frames.find(e.function) != std::string::npos);
    else CHECK(!g.frames.empty());
    // Only a parked goroutine has waited.
    CHECK((g.waited_ms >= 0) == parked_one);
  }
}

int child_procs() {
  const char* s = std::getenv("GOMAXPROCS");
  return s ? std::atoi(s) : 2;
}

std::string read_file(std::FILE* f) {
  std::string s;
  std::rewind(f);
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

}  // namespace

TEST_CASE("dump sigquit child", "[.child]") {
  if (!gort_test::in_child()) return;
  gort::run(
      [] {
        Parked p;
        p.start();
        std::printf("ids");
        for (const Expect& e : p.expect) std::printf(" %llu", static_cast<unsigned long long>(e.id));
        std::printf("\n");
        std::fflush(stdout);
        // Main too waits, for ever, once it is parked the signal comes; the
        // dump ends the process.
        gort::go([main = gort::goid()] {
          wait_until([main] { return parked(main, "chan receive (nil chan)"); });
          kill(getpid(), SIGQUIT);
        });
        gort::chan<int>().recv();
      },
      procs(child_procs()));
}

TEST_CASE("dump: SIGQUIT prints every goroutine, what it waits in and where, and exits 2", "[dump]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS=" << n);
    const auto r = gort_test::run_child("dump sigquit child", {{"GOMAXPROCS", std::to_string(n)}});
    INFO(r.err);
    REQUIRE(r.exit_status == 2);
    const size_t quit = r.err.find("SIGQUIT: quit\n");
    REQUIRE(quit != std::string::npos);
    CHECK(quit < r.err.find("goroutine "));
    // The ids the child's goroutines had, in the order of Parked::start.
    std::istringstream ids(r.out.substr(r.out.find("ids") + 3));
    Parked shape;
    const std::vector<std::pair<const char*, const char*>> expected = {{"chan receive", "park_in_chan_receive"},
                                                                       {"chan send", "park_in_chan_send"},
                                                                       {"select", "park_in_select"},
                                                                       {"sleep", "park_in_sleep"},
                                                                       {"sync.Mutex.Lock", "park_in_mutex"},
                                                                       {"sync.WaitGroup.Wait", "park_in_waitgroup"},
                                                                       {"sync.Cond.Wait", "park_in_cond"},
                                                                       {"syscall", "block_in_read"},
                                                                       {"running", "spin_without_safepoints"}};
    std::vector<Expect> expect;
    for (const auto& [state, function] : expected) {
      uint64_t id = 0;
      REQUIRE(ids >> id);
      expect.push_back({id, state, function});
    }
    check_dump(r.err, expect);
    // And the main goroutine, parked on a nil channel.
    CHECK(r.err.find("[chan receive (nil chan)") != std::string::npos);
  }
}

TEST_CASE("dump sigquit between runs child", "[.child]") {
  if (!gort_test::in_child()) return;
  gort::run([] {}, procs(2));
  kill(getpid(), SIGQUIT);
  gort::run([] { std::printf("not reached\n"); }, procs(2));
}

TEST_CASE("dump: SIGQUIT with no runtime running ends the process too", "[dump]") {
  const auto r = gort_test::run_child("dump sigquit between runs child", {});
  INFO(r.err);
  CHECK(r.exit_status == 2);
  CHECK(r.err.find("SIGQUIT: quit\n") != std::string::npos);
  CHECK(r.err.find("goroutine ") == std::string::npos);
  CHECK(r.out.find("not reached") == std::string::npos);
}

TEST_CASE("dump: dump_goroutines prints every goroutine and the program goes on", "[dump]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS=" << n);
    gort::run(
        [] {
          // The first goroutine waits a known while before the dump.
          auto early = gort::make_chan<int>();
          std::atomic<uint64_t> early_id{0};
          gort::go([&] {
            early_id = gort::goid();
            park_in_chan_receive(early);
          });
          wait_until([&] { return early_id.load() != 0 && parked(early_id, "chan receive"); });
          gort::sleep(std::chrono::milliseconds(50));
          Parked p;
          p.start();
          std::FILE* f = std::tmpfile();
          REQUIRE(f);
          gort::dump_goroutines(f);
          const std::string text = read_file(f);
          std::fclose(f);
          check_dump(text, p.expect);
          const auto gs = parse_dump(text);
          // The dumping goroutine comes first, running.
          uint64_t first_id = 0;
          Goroutine first;
          REQUIRE(parse_header(text.substr(0, text.find('\n')), &first_id, &first));
          CHECK(first_id == gort::goid());
          CHECK(first.state == "running");
          CHECK(gs.at(gort::goid()).frames.find("dump_goroutines") != std::string::npos);
          // Its wait began at least 50 ms before the dump.
          REQUIRE(gs.count(early_id) == 1);
          CHECK(gs.at(early_id).waited_ms >= 50);
          CHECK(gs.at(early_id).waited_ms >= gs.at(p.expect[0].id).waited_ms);
          early.send(1);
          p.release();
        },
        procs(n));
  }
}

TEST_CASE("dump: dump_goroutines from a thread outside the runtime, and with none running", "[dump]") {
  gort::run(
      [] {
        auto c = gort::make_chan<int>();
        std::atomic<uint64_t> id{0};
        gort::go([&] {
          id = gort::goid();
          park_in_chan_receive(c);
        });
        wait_until([&] { return id.load() != 0 && parked(id, "chan receive"); });
        std::FILE* f = std::tmpfile();
        gort::blocking([f] { std::thread([f] { gort::dump_goroutines(f); }).join(); });
        const std::string text = read_file(f);
        std::fclose(f);
        check_dump(text, {{id, "chan receive", "park_in_chan_receive"}});
        c.send(1);
      },
      procs(2));
  std::FILE* f = std::tmpfile();
  gort::dump_goroutines(f);
  CHECK(read_file(f).empty());
  std::fclose(f);
}

namespace {
__attribute__((noinline)) void throw_deep_trouble(int depth) {
  if (depth == 0) throw std::runtime_error("deep trouble");
  throw_deep_trouble(depth - 1);
  sink += 1;
}
}  // namespace

TEST_CASE("dump panic child", "[.child]") {
  if (!gort_test::in_child()) return;
  gort::run(
      [] {
        gort::go([] { throw_deep_trouble(3); });
        gort::chan<int>().recv();
      },
      procs(child_procs()));
}

TEST_CASE("dump: an unrecovered panic prints the goroutine and its stack at the throw", "[dump]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS=" << n);
    const auto r = gort_test::run_child("dump panic child", {{"GOMAXPROCS", std::to_string(n)}});
    INFO(r.err);
    REQUIRE(r.exit_status == 2);
    CHECK(r.err.find("panic: deep trouble\n") != std::string::npos);
    const auto gs = parse_dump(r.err);
    REQUIRE(gs.size() == 1);
    const Goroutine& g = gs.begin()->second;
    CHECK(g.state == "running");
    // The frames the exception left: throw_deep_trouble four deep.
    size_t calls = 0;
    for (size_t at = 0; (at = g.frames.find("throw_deep_trouble", at)) != std::string::npos; ++at) ++calls;
    CHECK(calls == 4);
  }
}

// ---- tools/gdb/gort.py -----------------------------------------------------

TEST_CASE("dump gdb child", "[.child]") {
  if (!gort_test::in_child()) return;
  gort::run(
      [] {
        Parked p;
        p.start();
        std::printf("ids");
        for (const Expect& e : p.expect) std::printf(" %llu", static_cast<unsigned long long>(e.id));
        std::printf("\n");
        std::fflush(stdout);
        raise(SIGTRAP);  // gdb stops the program here and looks around
        gort::chan<int>().recv();
      },
      procs(child_procs()));
}

namespace {

// Runs the gdb child under `gdb -batch` with gort.py loaded, stopping at its
// SIGTRAP, and returns everything gdb and the child printed.
std::string run_under_gdb(int gomaxprocs, const std::vector<std::string>& commands) {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  REQUIRE(n > 0);
  self[n] = '\0';
  std::string cmd = "GORT_TEST_CHILD=1 GOMAXPROCS=" + std::to_string(gomaxprocs) +
                    " timeout 120 gdb -nx -batch -ex 'set confirm off' -ex 'set print thread-events off'"
                    " -ex 'handle SIGURG nostop noprint pass' -ex 'source " GORT_GDB_SCRIPT "' -ex run";
  for (const std::string& c : commands) cmd += " -ex '" + c + "'";
  cmd += " --args " + std::string(self) + " 'dump gdb child' 2>&1";
  std::FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  size_t got;
  while ((got = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, got);
  pclose(p);
  return out;
}

// The lines after `header` up to the next goroutine's.
std::string section(const std::string& text, const std::string& header) {
  const size_t at = text.find(header);
  if (at == std::string::npos) return "";
  const size_t end = text.find("\ngoroutine ", at + header.size());
  return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace

TEST_CASE("dump: gdb's info goroutines and goroutine N bt (tools/gdb/gort.py)", "[dump]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS=" << n);
    const std::string out = run_under_gdb(n, {"info goroutines", "goroutine all bt 40"});
    INFO(out);
    const size_t ids_at = out.find("ids ");
    REQUIRE(ids_at != std::string::npos);
    std::istringstream ids(out.substr(ids_at + 4));
    const std::vector<std::pair<const char*, const char*>> expected = {
        {"chan receive", "park_in_chan_receive"},
        {"chan send", "park_in_chan_send"},
        {"select", "park_in_select"},
        {"sleep", "park_in_sleep"},
        {"sync.Mutex.Lock", "park_in_mutex"},
        {"sync.WaitGroup.Wait", "park_in_waitgroup"},
        {"sync.Cond.Wait", "park_in_cond"},
        {"running", "block_in_read"},  // a blocking call runs on its thread
        {"running", "spin_without_safepoints"}};
    for (const auto& [state, function] : expected) {
      uint64_t id = 0;
      REQUIRE(ids >> id);
      INFO("goroutine " << id << " in " << function);
      const bool parked_one = std::string(state) != "running";
      // info goroutines: "  7 waiting [chan receive]", "* 9 running".
      const std::string listed = parked_one ? "  " + std::to_string(id) + " waiting [" + state + "]\n"
                                            : "* " + std::to_string(id) + " running\n";
      CHECK(out.find(listed) != std::string::npos);
      // goroutine all bt: the function it waits in is one of its frames.
      const std::string bt = section(out, "goroutine " + std::to_string(id) + " [" + state + "]:\n");
      CHECK(bt.find(function) != std::string::npos);
    }
  }
}
