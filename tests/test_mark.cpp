// The concurrent collector: marking beside the program (gc/collector.cpp).
// Each mode runs in a child process, since the barrier and rescan knobs
// are read once per process: GODEBUG=gcbarrier=hybrid|dijkstra,
// gcrescan=list|pause, with gccheckmark=1 verifying every cycle in its
// pause.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "gc/barrier.hpp"
#include "gc/marker.hpp"
#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "gc/roots.hpp"
#include "gc/workbuf.hpp"
#include "gort/detail/safepoint.hpp"
#include "gort/gort.hpp"
#include "sched/gcscan.hpp"
#include "sched/sched.hpp"
#include "support.hpp"

namespace gc = gort::gc;
namespace sched = gort::sched;
using gort_test::kProcCounts;
using gort_test::procs;

namespace {

#if defined(__SANITIZE_THREAD__)
constexpr int kRounds = 1500;  // per worker: TSan runs fibers far slower
#else
constexpr int kRounds = 40000;
#endif
constexpr int kWorkers = 8;
constexpr int kSlots = 64;
constexpr int kBig = 8192;  // a live set large enough that marking takes a while
constexpr uint64_t kAlive = 0xA11CE0FF1CE5ULL;
constexpr uint64_t kDead = 0xDEADDEADDEADULL;

struct Node {
  gc::ref<Node> next[2];
  uint64_t id;
  uint64_t magic = kAlive;
  explicit Node(uint64_t i) : id(i) {}
  ~Node() { magic = kDead; }
  void trace(gc::Visitor& v) const {
    v(next[0]);
    v(next[1]);
  }
};

struct Graph {
  gc::ref<Node> slot[kSlots];
  gc::ref<gc::ref<Node>> big;  // kBig refs, each a chain into the others
  void trace(gc::Visitor& v) const {
    for (const auto& s : slot) v(s);
    v(big);
  }
};

// A node reached by the program must never have been found dead: its
// destructor would have marked it, or (once freed) ASan reports the read.
std::atomic<long> corrupt{0};
void check(const Node* n) {
  if (n && n->magic != kAlive) corrupt.fetch_add(1);
}

struct Lcg {
  uint64_t s;
  uint32_t next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return uint32_t(s >> 33);
  }
};

// Many goroutines rewire one graph of gc::refs, move nodes through
// channels and keep some only on their stacks across safe points, parks
// and yields, while collections run back to back. The graph is the
// program's shared data, so it is changed under a lock (the program must be
// free of data races: ThreadSanitizer runs it too); the collector reads it
// without one. Whatever a goroutine holds while the lock is released is on
// its stack only.
void rewire(Graph* g, gort::Mutex& mu, gort::chan<Node*> pass, int worker, int rounds, std::atomic<uint64_t>* ids) {
  Lcg rng{uint64_t(worker) * 7919 + 1};
  for (int r = 0; r < rounds; ++r) {
    const int a = int(rng.next() % kSlots), b = int(rng.next() % kSlots);
    const uint32_t op = rng.next() % 10;
    std::unique_lock<gort::Mutex> l(mu);
    switch (op) {
      case 0: {  // a new node, linked to an old one
        Node* n = gc::make<Node>(ids->fetch_add(1));
        n->next[0] = g->slot[b];
        g->slot[a] = n;
        break;
      }
      case 1: {  // rewire a heap field
        Node* n = g->slot[a].get();
        check(n);
        if (n) n->next[rng.next() % 2] = g->slot[b];
        break;
      }
      case 2: {  // only this stack holds it across a yield
        Node* n = g->slot[a].get();
        g->slot[a] = nullptr;
        l.unlock();
        gort::yield();
        l.lock();
        check(n);
        g->slot[b] = n;
        break;
      }
      case 3: {  // only the channel holds it
        Node* n = g->slot[a].get();
        if (!n) break;
        g->slot[a] = nullptr;
        l.unlock();
        const int sent = gort::select(gort::send(pass, n), gort::otherwise([] {}));
        l.lock();
        if (sent < 0) g->slot[a] = n;
        break;
      }
      case 4: {  // take one from the channel
        l.unlock();
        Node* got = nullptr;
        gort::select(gort::recv(pass, [&](Node* n) { got = n; }), gort::otherwise([] {}));
        l.lock();
        check(got);
        if (got) g->slot[b] = got;
        break;
      }
      case 5: {  // walk a chain
        const Node* n = g->slot[a].get();
        for (int d = 0; n && d < 16; ++d) {
          check(n);
          n = n->next[d % 2].get();
        }
        break;
      }
      case 6: {  // hold a subgraph on the stack while it is cut off, across a park
        Node* n = g->slot[a].get();
        Node* m = n ? n->next[0].get() : nullptr;
        if (n) n->next[0] = nullptr;
        g->slot[a] = nullptr;
        l.unlock();
        gort::sleep(std::chrono::microseconds(rng.next() % 50));
        l.lock();
        check(n);
        check(m);
        if (n) n->next[1] = m;
        g->slot[b] = n;
        break;
      }
      case 7: {  // swap two entries of the big array
        gc::ref<Node>* big = g->big.get();
        const uint32_t i = rng.next() % kBig, j = rng.next() % kBig;
        Node* t = big[i].get();
        big[i] = big[j];
        big[j] = t;
        check(t);
        break;
      }
      case 8: {  // relink a big-array node into the small graph
        gc::ref<Node>* big = g->big.get();
        Node* n = big[rng.next() % kBig].get();
        check(n);
        if (n) n->next[1] = g->slot[a];
        g->slot[b] = n;
        break;
      }
      default: {  // a safe point with a fresh object only on this stack
        l.unlock();
        Node* fresh = gc::make<Node>(ids->fetch_add(1));
        gort::safepoint();
        check(fresh);
      }
    }
  }
}

TEST_CASE("rewire child", "[.child]") {
  if (!gort_test::in_child()) return;
  // GORT_TEST_ROUNDS shortens a run whose every cycle is a whole
  // stop-the-world mark: a quarter of the rounds still runs thousands.
  const char* rounds_env = std::getenv("GORT_TEST_ROUNDS");
  const int rounds = rounds_env ? std::atoi(rounds_env) : kRounds;
  const auto [nodes, cycles] = gort::run([rounds] {
    gc::root<Graph> graph(gc::make<Graph>());
    graph->big = gc::make_array<gc::ref<Node>>(kBig);
    for (int i = 0; i < kBig; ++i) {
      Node* n = gc::make<Node>(uint64_t(i));
      if (i > 0) n->next[0] = graph->big.get()[i - 1];
      graph->big.get()[i] = n;
    }
    gort::chan<Node*> pass = gort::make_chan<Node*>(16);
    gort::Mutex mu;
    std::atomic<uint64_t> ids{0};
    std::atomic<bool> done{false};
    gort::WaitGroup collector;
    collector.add(1);
    gort::go([&] {
      while (!done.load()) gc::collect();
      collector.done();
    });
    // At least three cycles overlap the rewiring, however slowly the
    // machine runs the collector beside it (a loaded TSan run once
    // finished its rounds within two).
    const uint64_t first_gc = gc::stats().num_gc;
    gort::WaitGroup wg;
    for (int w = 0; w < kWorkers; ++w) {
      wg.add(1);
      gort::go([&, w] {
        do rewire(graph.get(), mu, pass, w, rounds, &ids);
        while (gc::stats().num_gc < first_gc + 3);
        wg.done();
      });
    }
    wg.wait();
    done.store(true);
    collector.wait();
    while (pass.len() > 0) check(pass.recv());
    gc::collect();
    // Every node still reachable is whole.
    long count = 0;
    std::vector<const Node*> todo;
    for (const auto& s : graph->slot)
      if (s) todo.push_back(s.get());
    for (int i = 0; i < kBig; ++i)
      if (graph->big.get()[i]) todo.push_back(graph->big.get()[i].get());
    std::set<const Node*> seen;
    while (!todo.empty()) {
      const Node* n = todo.back();
      todo.pop_back();
      if (!seen.insert(n).second) continue;
      check(n);
      ++count;
      for (const auto& next : n->next)
        if (next) todo.push_back(next.get());
    }
    return std::make_pair(count, gc::stats().num_gc);
  });
  std::printf("corrupt=%ld nodes=%ld cycles=%llu\n", corrupt.load(), nodes, static_cast<unsigned long long>(cycles));
}

struct Mode {
  const char* godebug;
};
constexpr Mode kModes[] = {
    {"gccheckmark=1,gcbarrier=hybrid"},
    {"gccheckmark=1,gcbarrier=dijkstra,gcrescan=list"},
    {"gccheckmark=1,gcbarrier=dijkstra,gcrescan=pause"},
};

}  // namespace

TEST_CASE("goroutines rewiring a shared graph lose nothing, in every barrier mode, checkmark on", "[mark]") {
  for (const Mode& mode : kModes) {
    for (const int n : kProcCounts) {
      const auto r = gort_test::run_child("rewire child", {{"GODEBUG", mode.godebug}, {"GOMAXPROCS", std::to_string(n)}});
      INFO("GODEBUG=" << mode.godebug << " GOMAXPROCS=" << n << "\n" << r.out << r.err);
      REQUIRE(r.exit_status == 0);
      long corrupt_seen = -1, nodes = 0;
      unsigned long long cycles = 0;
      const size_t at = r.out.find("corrupt=");
      REQUIRE(at != std::string::npos);
      REQUIRE(std::sscanf(r.out.c_str() + at, "corrupt=%ld nodes=%ld cycles=%llu", &corrupt_seen, &nodes, &cycles) ==
              3);
      REQUIRE(corrupt_seen == 0);
      REQUIRE(nodes > 0);
      REQUIRE(cycles >= 3);
    }
  }
}

namespace {

// A goroutine that only computes, with safe points, holding its one object
// in a local: the collector asks it to scan its own stack.
TEST_CASE("scan request child", "[.child]") {
  if (!gort_test::in_child()) return;
  const bool ok = gort::run([] {
    std::atomic<bool> stop{false};
    std::atomic<bool> alive{true};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      Node* mine = gc::make<Node>(42);
      uint64_t spin = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        spin = spin * 31 + mine->id;
        gort::safepoint();
      }
      alive = mine->magic == kAlive && mine->id == 42 && spin != 1;
      wg.done();
    });
    for (int i = 0; i < 8; ++i) gc::collect();
    stop = true;
    wg.wait();
    return alive.load();
  });
  std::printf("alive=%d\n", int(ok));
}

}  // namespace

TEST_CASE("a running goroutine scans its own stack at a safe point", "[mark]") {
  for (const Mode& mode : kModes) {
    for (const int n : kProcCounts) {
      const auto r =
          gort_test::run_child("scan request child", {{"GODEBUG", mode.godebug}, {"GOMAXPROCS", std::to_string(n)}});
      INFO("GODEBUG=" << mode.godebug << " GOMAXPROCS=" << n << "\n" << r.out << r.err);
      REQUIRE(r.exit_status == 0);
      REQUIRE(r.out.find("alive=1") != std::string::npos);
    }
  }
}

namespace {

constexpr int kParked = 20000;

// Parks kParked goroutines, runs cycles, and reports how many goroutine
// records the last mark termination looked at.
TEST_CASE("parked goroutines child", "[.child]") {
  if (!gort_test::in_child()) return;
  const size_t seen = gort::run([] {
    gort::chan<int> gate = gort::make_chan<int>();
    gort::WaitGroup started, finished;
    for (int i = 0; i < kParked; ++i) {
      started.add(1);
      finished.add(1);
      gort::go([&started, &finished, gate] {
        Node* held = gc::make<Node>(1);  // each parked stack holds an object
        started.done();
        gate.recv_ok();
        check(held);
        finished.done();
      });
    }
    started.wait();
    for (int i = 0; i < 3; ++i) gc::collect();
    const size_t last = gc::goroutines_seen_in_pause();
    gate.close();
    finished.wait();
    return last;
  });
  std::printf("seen=%zu corrupt=%ld\n", seen, corrupt.load());
}

}  // namespace

// The pause that ends marking must not walk the goroutines (Go 1.7 and
// later): it looks only at those still owed a scan. Go 1.5/1.6's rescan of
// every stack in the pause (GODEBUG=gcrescan=pause) does walk them, which
// is the growth Twitch measured.
TEST_CASE("mark termination does not grow with parked goroutines", "[mark][big]") {
  for (const Mode& mode : kModes) {
    const auto r = gort_test::run_child("parked goroutines child", {{"GODEBUG", mode.godebug}, {"GOMAXPROCS", "4"}});
    INFO("GODEBUG=" << mode.godebug << "\n" << r.out << r.err);
    REQUIRE(r.exit_status == 0);
    size_t seen = 0;
    long corrupt_seen = -1;
    const size_t at = r.out.find("seen=");
    REQUIRE(at != std::string::npos);
    REQUIRE(std::sscanf(r.out.c_str() + at, "seen=%zu corrupt=%ld", &seen, &corrupt_seen) == 2);
    REQUIRE(corrupt_seen == 0);
    if (std::strstr(mode.godebug, "gcrescan=pause")) REQUIRE(seen >= size_t(kParked));
    else REQUIRE(seen <= 64);  // threads, and goroutines that ran during the cycle: not 20,000
  }
}

namespace {

constexpr uintptr_t kHide = 0x5a5a5a5a5a5a5a5aULL;

// Writes the hidden object into black->next[0] with no barrier. Out of line,
// so that the only copies of the white pointer are in this frame and in
// caller-saved registers: inlined, at -O1, the compiler kept it in a
// callee-saved register across the wait below, the conservative stack scan
// found it there, and the missed barrier went unnoticed.
[[gnu::noinline]] void store_without_barrier(Node* black, const std::atomic<uintptr_t>& hidden) {
  const uintptr_t white = hidden.load() ^ kHide;
  std::memcpy(static_cast<void*>(&black->next[0]), &white, sizeof white);
}

// Zeroes the stack below the caller's frame, where store_without_barrier's
// frame was, before the frames of the wait are pushed over it: a slot they
// leave unwritten must not still hold the white pointer when they are scanned.
[[gnu::noinline]] void scrub_stack_below() {
  char junk[4096];
  std::memset(junk, 0, sizeof junk);
  asm volatile("" : : "r"(junk) : "memory");
}

// A white object written into a black one behind the write barrier's back:
// gccheckmark must catch it. The black object is allocated while marking
// (so it is born marked and never traced); the white one is made before
// the cycle by a goroutine that exits, so no scanned stack keeps a copy of
// its address, and is reachable only through the unbarriered write.
TEST_CASE("missed barrier child", "[.child]") {
  if (!gort_test::in_child()) return;
  gort::run([] {
    gc::root<Node> root;
    for (int attempt = 0; attempt < 20; ++attempt) {
      std::atomic<uintptr_t> hidden{0};
      gort::WaitGroup made;
      made.add(1);
      gort::go([&] {
        hidden = reinterpret_cast<uintptr_t>(gc::make<Node>(2)) ^ kHide;
        made.done();
      });
      made.wait();
      gort::WaitGroup cycle;
      cycle.add(1);
      gort::go([&] {
        gc::collect();
        cycle.done();
      });
      // No safe point in here: the cycle cannot end while this goroutine
      // owes its stack scan.
      while (!gort::sched::gcscan.marking.load()) {
      }
      Node* black = gc::make<Node>(1);
      const bool born_black = gort::sched::gcscan.marking.load();
      store_without_barrier(black, hidden);
      root = black;
      scrub_stack_below();
      cycle.wait();  // gccheckmark ends the process here
      if (born_black) std::printf("attempt %d: not caught\n", attempt);
      root = nullptr;
    }
  });
  std::printf("not caught\n");
}

}  // namespace

TEST_CASE("gccheckmark fails loudly when a black object points to a white one", "[mark]") {
  const auto r = gort_test::run_child("missed barrier child", {{"GODEBUG", "gccheckmark=1"}, {"GOMAXPROCS", "2"}});
  INFO(r.out << r.err);
  REQUIRE(r.exit_status == 2);
  REQUIRE(r.err.find("fatal error: gccheckmark: a reachable object was left unmarked") != std::string::npos);
  REQUIRE(r.err.find("referenced by the marked object") != std::string::npos);
}

TEST_CASE("bad GODEBUG collector settings are refused", "[mark]") {
  for (const char* bad : {"gcbarrier=yuasa", "gcrescan=never", "gccheckmark=2", "gcstoptheworld=yes"}) {
    const auto r = gort_test::run_child("scan request child", {{"GODEBUG", bad}});
    INFO(bad << "\n" << r.err);
    REQUIRE(r.exit_status == 2);
    REQUIRE(r.err.find("GODEBUG") != std::string::npos);
  }
}

TEST_CASE("GODEBUG=gcstoptheworld=1 marks inside one pause and loses nothing", "[mark]") {
  for (const int n : kProcCounts) {
    const auto r = gort_test::run_child("rewire child", {{"GODEBUG", "gcstoptheworld=1,gccheckmark=1"},
                                                         {"GOMAXPROCS", std::to_string(n)},
                                                         {"GORT_TEST_ROUNDS", std::to_string(kRounds / 4)}});
    INFO("GOMAXPROCS=" << n << "\n" << r.out << r.err);
    REQUIRE(r.exit_status == 0);
    REQUIRE(r.out.find("corrupt=0 ") != std::string::npos);
  }
}

namespace {

// Grey objects a marker holds, outside any cycle (GOGC=off): the marker is
// driven by hand.
constexpr int kGrey = 100;

// Scan work counts whole slots.
int64_t slot_bytes(const Node* n) { return int64_t(gc::Heap::get().span_of(reinterpret_cast<uintptr_t>(n))->elemsize); }

std::vector<Node*> make_nodes(int n) {
  std::vector<Node*> nodes;
  for (int i = 0; i < n; ++i) nodes.push_back(gc::make<Node>(uint64_t(i)));
  return nodes;
}

TEST_CASE("barrier hand-off child", "[.child]") {
  const auto [before, at_limit, past_limit, left] = gort::run([] {
    const std::vector<Node*> nodes = make_nodes(kGrey);
    gc::Marker m(0);
    m.hand_off_every(64);
    const bool shared_before = gc::workbufs::any_full();
    for (int i = 0; i < 64; ++i) m.mark(reinterpret_cast<uintptr_t>(nodes[size_t(i)]));
    const bool shared_at_limit = gc::workbufs::any_full();
    m.mark(reinterpret_cast<uintptr_t>(nodes[64]));
    const bool shared_past_limit = gc::workbufs::any_full();
    const int64_t drained = m.drain(-1);
    return std::tuple{shared_before, shared_at_limit, shared_past_limit, drained / slot_bytes(nodes[0])};
  });
  std::printf("before=%d at_limit=%d past_limit=%d drained=%lld\n", int(before), int(at_limit), int(past_limit),
              (long long)left);
}

TEST_CASE("bounded drain child", "[.child]") {
  const auto [others, own, rest] = gort::run([] {
    const std::vector<Node*> nodes = make_nodes(kGrey);
    gc::Marker m(0);
    for (Node* n : nodes) m.mark(reinterpret_cast<uintptr_t>(n));
    constexpr int64_t kUnbounded = int64_t(1) << 40;
    // Another goroutine asked to scan its stack or to yield: not this one's
    // business (the counter every safe point reads is up).
    gort::detail::preempt_requests.fetch_add(1);
    const int64_t first = m.drain(2 * slot_bytes(nodes[0]));
    gort::detail::preempt_requests.fetch_sub(1);
    // This goroutine asked to yield, as a stop of the world asks.
    sched::request_preempt(sched::current_g());
    const int64_t bounded = m.drain(kUnbounded);
    const int64_t unbounded = m.drain(-1);
    gort::detail::safepoint();  // yields, and the request is spent
    return std::tuple{first / slot_bytes(nodes[0]), bounded / slot_bytes(nodes[0]), unbounded / slot_bytes(nodes[0])};
  });
  std::printf("others=%lld bounded=%lld unbounded=%lld\n", (long long)others, (long long)own, (long long)rest);
}

// Marking switched on or off by hand, with no cycle (GOGC=off): the write
// barriers shade into their Ps' blocks, and nothing else marks.
void set_marking_by_hand(bool on) {
  sched::gcscan.marking.store(on);
  gort::gc::detail::write_barrier_enabled.store(on);
}

// One step a hand-over child saw, as its test reads it: "what=1 " or "what=0 ".
std::string step(const char* what, bool value) { return std::string(what) + "=" + (value ? "1 " : "0 "); }

// Marking switched on by hand, with one P and no cycle (GOGC=off): the
// barrier of this goroutine's P is the only marker.
TEST_CASE("barrier hand-over child", "[.child]") {
  const auto steps = gort::run([] {
    const std::vector<Node*> nodes = make_nodes(3);  // white: made before marking
    Node* holder = nodes[0];
    set_marking_by_hand(true);
    std::string seen;
    auto note = [&seen](const char* what, bool value) { seen += step(what, value); };
    note("quiet", gc::barrier_work_handed_over());
    holder->next[0] = gc::ref<Node>(nodes[1]);  // greys nodes[1] into the P's barrier block
    note("asked", gc::barrier_work_handed_over());
    note("shared_before", gc::workbufs::any_full());
    holder->next[1] = gc::ref<Node>(nodes[2]);  // the next barrier hands the block over
    note("shared_after", gc::workbufs::any_full());
    note("handed", gc::barrier_work_handed_over());
    set_marking_by_hand(false);
    gc::Marker m(0);
    note("drained", m.drain(-1) == 2 * slot_bytes(nodes[0]));
    return seen;
  }, gort_test::procs(1));
  std::printf("%s\n", steps.c_str());
}

// The same, with no pointer stored after the request: the P's next safe
// point hands the block over (a P that only allocates kept its grey
// objects for the pause).
TEST_CASE("safe point hand-over child", "[.child]") {
  const auto steps = gort::run([] {
    const std::vector<Node*> nodes = make_nodes(2);  // white: made before marking
    set_marking_by_hand(true);
    std::string seen;
    auto note = [&seen](const char* what, bool value) { seen += step(what, value); };
    nodes[0]->next[0] = gc::ref<Node>(nodes[1]);  // greys nodes[1] into the P's barrier block
    note("asked", gc::barrier_work_handed_over());
    note("shared_before", gc::workbufs::any_full());
    gort::detail::safepoint();
    note("shared_after", gc::workbufs::any_full());
    note("handed", gc::barrier_work_handed_over());
    set_marking_by_hand(false);
    gc::Marker m(0);
    note("drained", m.drain(-1) == slot_bytes(nodes[0]));
    return seen;
  }, gort_test::procs(1));
  std::printf("%s\n", steps.c_str());
}

// A P that went idle holding barrier work reaches no barrier and no safe
// point: the check hands its work over itself.
TEST_CASE("idle P hand-over child", "[.child]") {
  const auto steps = gort::run([] {
    const std::vector<Node*> nodes = make_nodes(2);
    set_marking_by_hand(true);
    std::string seen;
    auto note = [&seen](const char* what, bool value) { seen += step(what, value); };
    std::atomic<bool> shaded{false};
    gort::chan<int> release = gort::make_chan<int>();
    gort::WaitGroup done;
    done.add(1);
    gort::go([&] {
      nodes[0]->next[0] = gc::ref<Node>(nodes[1]);  // into the block of the P this runs on
      shaded.store(true);
      release.recv_ok();  // parks: that P has nothing left to run
      done.done();
    });
    // Spinning, not parking, keeps this P busy: the goroutine runs on the
    // other one, which then goes idle.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((!shaded.load() || sched::sched.npidle.load() != 1) && std::chrono::steady_clock::now() < give_up) {
    }
    note("idle", shaded.load() && sched::sched.npidle.load() == 1);
    note("shared_before", gc::workbufs::any_full());
    note("handed", gc::barrier_work_handed_over());
    note("shared_after", gc::workbufs::any_full());
    set_marking_by_hand(false);
    {
      gc::Marker m(0);
      note("drained", m.drain(-1) == slot_bytes(nodes[0]));
    }
    release.close();
    done.wait();
    return seen;
  }, gort_test::procs(2));
  std::printf("%s\n", steps.c_str());
}

// The runner's stack is scanned once beside the program, keeping the words
// read, and in mark termination only where a word changed since.
TEST_CASE("rescan changed child", "[.child]") {
  const auto [first, changed, again] = gort::run([] {
    const std::vector<Node*> nodes = make_nodes(3);
    uintptr_t frame[4] = {reinterpret_cast<uintptr_t>(nodes[0]), 42, reinterpret_cast<uintptr_t>(nodes[1]), 0};
    uintptr_t kept[4];
    const auto lo = reinterpret_cast<uintptr_t>(frame);
    gc::Marker m(0);
    m.scan_stack_keeping(lo, lo + sizeof frame, kept);
    const int64_t scanned = m.drain(-1);
    frame[3] = reinterpret_cast<uintptr_t>(nodes[2]);
    m.rescan_changed(lo, lo + sizeof frame, kept);
    const int64_t rescanned = m.drain(-1);
    frame[3] = 0;  // back to what was kept: nothing to look at
    frame[1] = reinterpret_cast<uintptr_t>(nodes[0]);  // changed, but already grey
    m.rescan_changed(lo, lo + sizeof frame, kept);
    const int64_t third = m.drain(-1);
    const int64_t slot = slot_bytes(nodes[0]);
    return std::tuple{scanned / slot, rescanned / slot, third / slot};
  });
  std::printf("first=%lld changed=%lld again=%lld\n", (long long)first, (long long)changed, (long long)again);
}

}  // namespace

TEST_CASE("a write barrier's marker shares its grey objects in blocks of 64", "[mark]") {
  const auto r = gort_test::run_child("barrier hand-off child", {{"GOGC", "off"}});
  INFO(r.out << r.err);
  REQUIRE(r.exit_status == 0);
  // Held back until the 65th, then all 65 drained (the shared block too:
  // a marker takes shared blocks when its own is empty).
  REQUIRE(r.out.find("before=0 at_limit=0 past_limit=1 ") != std::string::npos);
  REQUIRE(r.out.find("drained=65\n") != std::string::npos);
}

TEST_CASE("a bounded drain gives way within one object when its goroutine is asked to yield", "[mark]") {
  const auto r = gort_test::run_child("bounded drain child", {{"GOGC", "off"}});
  INFO(r.out << r.err);
  REQUIRE(r.exit_status == 0);
  // Two objects, as budgeted, while only others were asked; one, then the
  // drain returns, once its own goroutine is; the pause's unbounded drain
  // never gives way.
  REQUIRE(r.out.find("others=2 bounded=1 unbounded=" + std::to_string(kGrey - 3) + "\n") != std::string::npos);
}

TEST_CASE("before mark termination the write barriers hand their grey objects to the workers", "[mark]") {
  const auto r = gort_test::run_child("barrier hand-over child", {{"GOGC", "off"}});
  INFO(r.out << r.err);
  REQUIRE(r.exit_status == 0);
  // Nothing held: ready. A P holding work is asked and not ready; its next
  // barrier shares the block; then it is ready, and both objects are there
  // for the workers.
  REQUIRE(r.out.find("quiet=1 asked=0 shared_before=0 shared_after=1 handed=1 drained=1 ") != std::string::npos);
}


TEST_CASE("a P asked for its barrier's grey objects hands them over at its next safe point", "[mark]") {
  const auto r = gort_test::run_child("safe point hand-over child", {{"GOGC", "off"}});
  INFO(r.out << r.err);
  REQUIRE(r.exit_status == 0);
  REQUIRE(r.out.find("asked=0 shared_before=0 shared_after=1 handed=1 drained=1 ") != std::string::npos);
}

TEST_CASE("an idle P's barrier work is handed over by the check before mark termination", "[mark]") {
  const auto r = gort_test::run_child("idle P hand-over child", {{"GOGC", "off"}});
  INFO(r.out << r.err);
  REQUIRE(r.exit_status == 0);
  REQUIRE(r.out.find("idle=1 shared_before=0 handed=1 shared_after=1 drained=1 ") != std::string::npos);
}

TEST_CASE("mark termination rescans only the words of the runner's stack that changed", "[mark]") {
  const auto r = gort_test::run_child("rescan changed child", {{"GOGC", "off"}});
  INFO(r.out << r.err);
  REQUIRE(r.exit_status == 0);
  // Two objects found and kept; the one written since is found by the
  // rescan; a word that changed to an object already marked adds nothing.
  REQUIRE(r.out.find("first=2 changed=1 again=0\n") != std::string::npos);
}
