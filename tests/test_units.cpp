// The runtime's smallest parts on their own, without a running scheduler:
// a P's run queue (sched/runqueue.hpp), a P's timer heap (sched/timer.hpp),
// the wake-up note (runtime/internal/note.hpp), the knob parsers and what
// a malformed knob or Config does (runtime/internal/config.hpp,
// runtime/config.hpp), and the invariant
// checks of runtime locks (runtime/internal/check.hpp). A bug here shows up
// in the other suites only as a lost goroutine or a late timer, far from
// its cause; here it shows up as the wrong G or the wrong `when`.
#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gort/gort.hpp"
#include "runtime/internal/check.hpp"
#include "runtime/internal/config.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/note.hpp"
#include "sched/g.hpp"
#include "sched/runqueue.hpp"
#include "sched/timer.hpp"
#include "stack/space.hpp"
#include "support.hpp"

using gort::sched::G;
using gort::sched::RunQueue;
using gort::sched::Timer;
using gort::sched::TimerHeap;

namespace {

constexpr uint32_t kRing = RunQueue::kSize;

// Pops everything, runnext first, as the owner would run it.
std::vector<G*> drain(RunQueue& q) {
  std::vector<G*> out;
  bool from_next = false;
  while (G* g = q.pop(&from_next)) out.push_back(g);
  return out;
}

std::vector<G*> addresses(std::vector<G>& gs, size_t from, size_t to) {
  std::vector<G*> out;
  for (size_t i = from; i < to; ++i) out.push_back(&gs[i]);
  return out;
}

}  // namespace

// ---- sched::RunQueue ----

TEST_CASE("run queue: the ring is FIFO", "[units][runqueue]") {
  RunQueue q;
  std::vector<G> gs(10);
  REQUIRE(q.empty());
  REQUIRE_FALSE(q.has_queued());
  for (G& g : gs) REQUIRE(q.push(&g));
  REQUIRE_FALSE(q.empty());
  REQUIRE(q.has_queued());
  for (G& g : gs) {
    bool from_next = true;
    REQUIRE(q.pop(&from_next) == &g);
    REQUIRE_FALSE(from_next);
  }
  bool from_next = true;
  REQUIRE(q.pop(&from_next) == nullptr);
  REQUIRE(q.empty());
}

TEST_CASE("run queue: runnext alone makes the queue non-empty but queues nothing in the ring", "[units][runqueue]") {
  // empty() tells an idle P whether to look here at all; has_queued() tells
  // a thief whether there is a ring to take half of.
  RunQueue q;
  G g;
  REQUIRE(q.set_next(&g) == nullptr);
  REQUIRE_FALSE(q.empty());
  REQUIRE_FALSE(q.has_queued());
  bool from_next = false;
  REQUIRE(q.pop(&from_next) == &g);
  REQUIRE(from_next);
  REQUIRE(q.empty());
}

TEST_CASE("run queue: runnext runs first, and a newer runnext displaces the older to the tail", "[units][runqueue]") {
  RunQueue q;
  std::vector<G> gs(4);
  REQUIRE(q.push(&gs[0]));
  REQUIRE(q.push(&gs[1]));
  REQUIRE(q.set_next(&gs[2]) == nullptr);
  // The most recently readied G runs next (LIFO into the slot); the one it
  // displaces goes to the back of the ring, as runqput does with it.
  G* displaced = q.set_next(&gs[3]);
  REQUIRE(displaced == &gs[2]);
  REQUIRE(q.push(displaced));
  bool from_next = false;
  REQUIRE(q.pop(&from_next) == &gs[3]);
  REQUIRE(from_next);
  REQUIRE(q.pop(&from_next) == &gs[0]);
  REQUIRE_FALSE(from_next);
  REQUIRE(drain(q) == std::vector<G*>{&gs[1], &gs[2]});
}

TEST_CASE("run queue: push fails on a full ring and take_half hands over the oldest half", "[units][runqueue]") {
  RunQueue q;
  std::vector<G> gs(kRing + 1);
  G* out[kRing / 2] = {};
  // Not full: nothing to hand over.
  for (uint32_t i = 0; i < kRing - 1; ++i) REQUIRE(q.push(&gs[i]));
  REQUIRE_FALSE(q.take_half(out));
  REQUIRE(q.push(&gs[kRing - 1]));
  REQUIRE_FALSE(q.push(&gs[kRing]));
  // runnext is not part of the ring: a full ring still takes it.
  REQUIRE(q.set_next(&gs[kRing]) == nullptr);

  REQUIRE(q.take_half(out));
  REQUIRE(std::vector<G*>(out, out + kRing / 2) == addresses(gs, 0, kRing / 2));
  // Room again; what stays runs runnext first, then in order.
  G extra;
  REQUIRE(q.push(&extra));
  std::vector<G*> expected{&gs[kRing]};
  for (G* g : addresses(gs, kRing / 2, kRing)) expected.push_back(g);
  expected.push_back(&extra);
  REQUIRE(drain(q) == expected);
}

TEST_CASE("run queue: the ring wraps around its end", "[units][runqueue]") {
  // Head and tail only grow; slots are indexed modulo the size. Many
  // rounds of a queue kept half full cross the end of the ring many times.
  RunQueue q;
  std::vector<G> gs(kRing);
  size_t next_in = 0, next_out = 0;
  for (int round = 0; round < 20; ++round) {
    while (next_in - next_out < kRing / 2 + 37) REQUIRE(q.push(&gs[next_in++ % kRing]));
    bool from_next = false;
    for (int k = 0; k < 100; ++k) REQUIRE(q.pop(&from_next) == &gs[next_out++ % kRing]);
  }
  while (next_out < next_in) {
    bool from_next = false;
    REQUIRE(q.pop(&from_next) == &gs[next_out++ % kRing]);
  }
  REQUIRE(q.empty());
}

TEST_CASE("run queue: a thief takes about half, oldest first, and runs the newest it took", "[units][runqueue]") {
  for (const uint32_t queued : {1u, 2u, 7u, 10u, 255u, 256u}) {
    INFO(queued << " queued");
    RunQueue victim, thief;
    std::vector<G> gs(queued);
    for (G& g : gs) REQUIRE(victim.push(&g));
    const uint32_t taken = queued - queued / 2;  // half, rounded up
    G* g = thief.steal_from(victim, false, false);
    REQUIRE(g == &gs[taken - 1]);
    REQUIRE(drain(thief) == addresses(gs, 0, taken - 1));
    REQUIRE(drain(victim) == addresses(gs, taken, queued));
  }
}

TEST_CASE("run queue: runnext is stolen only when asked and when the ring is empty", "[units][runqueue]") {
  std::vector<G> gs(3);
  for (const bool victim_running : {false, true}) {
    INFO("victim running: " << victim_running);
    RunQueue victim, thief;
    REQUIRE(thief.steal_from(victim, true, victim_running) == nullptr);  // nothing at all
    victim.set_next(&gs[0]);
    REQUIRE(thief.steal_from(victim, false, victim_running) == nullptr);
    REQUIRE(thief.steal_from(victim, true, victim_running) == &gs[0]);
    REQUIRE(victim.empty());
    REQUIRE(thief.empty());  // the stolen G is returned, not queued

    // With Gs in the ring, the ring is what a thief takes.
    victim.set_next(&gs[0]);
    REQUIRE(victim.push(&gs[1]));
    REQUIRE(victim.push(&gs[2]));
    REQUIRE(thief.steal_from(victim, true, victim_running) == &gs[1]);
    REQUIRE(drain(victim) == std::vector<G*>{&gs[0], &gs[2]});
  }
}

TEST_CASE("run queue: the owner and thieves on threads run every G exactly once", "[units][runqueue]") {
  // The owner pushes (sometimes readying into runnext), runs some of what
  // it queued, and hands half a full ring to a "global queue" as runqput
  // does; thieves steal into their own queues and run what they took. Each
  // G must be run by exactly one of them: a lost G is a goroutine that never
  // runs again, a doubled one runs on two threads at once.
#if defined(__SANITIZE_THREAD__)
  constexpr int kGs = 20000;
#else
  constexpr int kGs = 100000;
#endif
  constexpr int kThieves = 3;
  std::vector<G> gs(kGs);
  std::vector<std::atomic<int>> runs(kGs);
  // "Running" a G takes a moment, as it would: long enough for the other
  // side to reach the queue meanwhile, so that pops and steals overlap.
  auto run = [&](G* g) {
    runs[size_t(g - gs.data())].fetch_add(1, std::memory_order_relaxed);
    for (int i = 0; i < 50; ++i) asm volatile("" ::: "memory");
  };
  RunQueue owner;
  std::atomic<int> thieves_ready{0};
  std::atomic<bool> owner_done{false};
  std::atomic<int64_t> stolen{0};

  std::vector<std::thread> thieves;
  for (int t = 0; t < kThieves; ++t)
    thieves.emplace_back([&, t] {
      RunQueue mine;
      std::minstd_rand r(uint32_t(t + 1));
      thieves_ready.fetch_add(1);
      for (;;) {
        const bool done = owner_done.load(std::memory_order_acquire);
        G* g = mine.steal_from(owner, r() % 2 == 0, r() % 16 == 0);
        if (!g) {
          if (done) break;  // the owner has stopped and nothing is left: nothing will come
          continue;
        }
        stolen.fetch_add(1, std::memory_order_relaxed);
        run(g);
        for (G* rest : drain(mine)) {
          stolen.fetch_add(1, std::memory_order_relaxed);
          run(rest);
        }
      }
    });
  while (thieves_ready.load() != kThieves) std::this_thread::yield();

  std::minstd_rand r(99);
  std::vector<G*> global(kRing / 2);
  for (int i = 0; i < kGs; ++i) {
    G* g = &gs[size_t(i)];
    if (r() % 8 == 0) g = owner.set_next(g);  // now the one it displaced, if any
    while (g && !owner.push(g)) {
      if (owner.take_half(global.data()))
        for (G* h : global) run(h);
    }
    // Run about as many as were queued, in bursts, so that the queue
    // empties now and then (thieves then race the owner for runnext) and
    // fills up now and then (take_half).
    if (r() % 64 == 0) {
      bool from_next = false;
      for (int k = int(r() % 128); k > 0; --k)
        if (G* p = owner.pop(&from_next)) run(p);
    }
  }
  owner_done.store(true, std::memory_order_release);
  for (G* g : drain(owner)) run(g);
  for (auto& t : thieves) t.join();

  int never = 0, twice = 0;
  for (auto& n : runs) {
    never += n.load() == 0;
    twice += n.load() > 1;
  }
  INFO(stolen.load() << " of " << kGs << " stolen");
  REQUIRE(never == 0);
  REQUIRE(twice == 0);
  REQUIRE(owner.empty());
}

// ---- sched::TimerHeap ----

namespace {

// Every timer's index names its slot, and every parent is due no later
// than its children: the heap as its Timers' indexes describe it.
bool heap_ordered(const std::vector<Timer*>& in_heap) {
  std::vector<Timer*> slots(in_heap.size(), nullptr);
  for (Timer* t : in_heap) {
    if (t->index < 0 || size_t(t->index) >= slots.size() || slots[size_t(t->index)]) return false;
    slots[size_t(t->index)] = t;
  }
  for (size_t i = 1; i < slots.size(); ++i)
    if (slots[(i - 1) / 2]->when > slots[i]->when) return false;
  return true;
}

}  // namespace

TEST_CASE("timer heap: random adds, removes and re-arms keep the earliest on top", "[units][timer]") {
  TimerHeap heap;
  std::vector<Timer> timers(500);
  std::vector<Timer*> in_heap;   // what the heap should hold
  std::multiset<int64_t> model;  // their `when`s
  std::mt19937 r(12345);
  // `when` from a small range, so that ties are common. Never 0: a heap
  // whose first `when` is 0 would read as empty.
  auto random_when = [&] { return int64_t(1 + r() % 200); };

  gort::internal::LockGuard l(heap.lock);
  REQUIRE(heap.first_when() == 0);
  REQUIRE(heap.top() == nullptr);
  for (int step = 0; step < 20000; ++step) {
    const uint32_t op = r() % 10;
    if (op < 4 && in_heap.size() < timers.size()) {
      Timer* t = nullptr;
      for (Timer& c : timers)
        if (c.index < 0) {
          t = &c;
          break;
        }
      t->when = random_when();
      heap.add(t);
      in_heap.push_back(t);
      model.insert(t->when);
    } else if (op < 8 && !in_heap.empty()) {
      const size_t k = r() % in_heap.size();
      Timer* t = in_heap[k];
      heap.remove(t);
      REQUIRE(t->index == -1);
      in_heap.erase(in_heap.begin() + long(k));
      model.erase(model.find(t->when));
    } else if (!in_heap.empty()) {
      // A periodic timer fired: the top moves later and sinks.
      Timer* t = heap.top();
      model.erase(model.find(t->when));
      t->when += random_when();
      model.insert(t->when);
      heap.fix_top();
    }
    if (model.empty()) {
      REQUIRE(heap.top() == nullptr);
      REQUIRE(heap.first_when() == 0);
    } else {
      REQUIRE(heap.top() != nullptr);
      REQUIRE(heap.top()->when == *model.begin());
      REQUIRE(heap.first_when() == *model.begin());
    }
    if (step % 97 == 0) REQUIRE(heap_ordered(in_heap));
  }
  REQUIRE(heap_ordered(in_heap));

  // Taking the top until none is left yields the `when`s in order.
  std::vector<int64_t> popped;
  while (Timer* t = heap.top()) {
    popped.push_back(t->when);
    heap.remove(t);
  }
  REQUIRE(popped == std::vector<int64_t>(model.begin(), model.end()));
  REQUIRE(heap.first_when() == 0);
}

namespace {
int disposed = 0;
}

TEST_CASE("timer heap: clear forgets every timer and disposes of those it owns", "[units][timer]") {
  TimerHeap heap;
  std::vector<Timer> timers(10);
  disposed = 0;
  gort::internal::LockGuard l(heap.lock);
  for (size_t i = 0; i < timers.size(); ++i) {
    timers[i].when = int64_t(100 - i);
    if (i % 2 == 0) timers[i].dispose = [](Timer*) { ++disposed; };
    heap.add(&timers[i]);
  }
  REQUIRE(heap.first_when() == 91);
  REQUIRE(heap.top() == &timers[9]);
  heap.clear();
  REQUIRE(disposed == 5);
  REQUIRE(heap.top() == nullptr);
  REQUIRE(heap.first_when() == 0);
  for (const Timer& t : timers) {
    REQUIRE(t.index == -1);
    REQUIRE(t.pp.load() == nullptr);
  }
}

// ---- knob parsing ----

TEST_CASE("parse_size reads a byte count with an optional k, m or g", "[units][knobs]") {
  using gort::internal::parse_size;
  const std::map<std::string, size_t> good = {
      {"0", 0},
      {"16k", 16 << 10},
      {"256K", 256 << 10},
      {"262144", 262144},
      {"1m", 1 << 20},
      {"2g", size_t(2) << 30},
      {"2GiB", size_t(2) << 30},
      {"512MiB", size_t(512) << 20},
      {"1024kb", 1 << 20},
      {"64KB", 64 << 10},
      {"1024g", size_t(1) << 40},          // 1 TiB, the largest
      {"1099511627776", size_t(1) << 40},  // the same in bytes
  };
  for (const auto& [text, value] : good) {
    INFO('"' << text << '"');
    size_t out = 12345;
    REQUIRE(parse_size(text, &out));
    REQUIRE(out == value);
  }
  for (const char* text : {"", "k", "12x", "1.5m", "-1k", "+1k", " 1k", "1k ", "99999999999999g", "1t", "1kk", "1mb2",
                           "1b", "0x10", "1025g", "1099511627777", "18446744073709551617"}) {
    INFO('"' << text << '"');
    size_t out = 0;
    REQUIRE_FALSE(parse_size(text, &out));
  }
}

TEST_CASE("parse_int reads a plain decimal integer", "[units][knobs]") {
  using gort::internal::parse_int;
  const std::map<std::string, long long> good = {
      {"0", 0},  {"7", 7},       {"0042", 42}, {"-1", -1},
      {"-0", 0}, {"1024", 1024}, {"-50", -50}, {"4611686018427387904", 1LL << 62},
  };
  for (const auto& [text, value] : good) {
    INFO('"' << text << '"');
    long long out = 12345;
    REQUIRE(parse_int(text, &out));
    REQUIRE(out == value);
  }
  for (const char* text : {"", "-", "+1", "1.0", "12x", "x", " 1", "1 ", "0x10", "1k", "--1", "4611686018427387905",
                           "99999999999999999999"}) {
    INFO('"' << text << '"');
    long long out = 0;
    REQUIRE_FALSE(parse_int(text, &out));
  }
}

// ---- the knobs in a process: malformed values end it, good ones take ----

TEST_CASE("knob child", "[.child]") {
  if (!gort_test::in_child()) return;
  const int procs = gort::run([] {
    // A goroutine whose frame needs more than the default 256 KiB slot:
    // GORTMAXSTACK=1m is honoured or this is a stack overflow.
    if (std::getenv("BIG_FRAME")) {
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&wg] {
        volatile char frame[600 * 1024];
        for (size_t i = 0; i < sizeof frame; i += 4096) frame[i] = char(i);
        frame[sizeof frame - 1] = 1;
        wg.done();
      });
      wg.wait();
    }
    return gort::gomaxprocs();
  });
  // Stacks exist now: a second run asking for another size is told so.
  if (std::getenv("RESIZE_STACKS")) {
    gort::Config c;
    c.max_stack = 1024 * 1024;
    gort::run([] { return 0; }, c);
  }
  std::printf("gomaxprocs=%d slot=%zu\n", procs, gort::stack::Space::get().slot_size());
}

TEST_CASE("a malformed knob ends the process with Go's message", "[units][knobs]") {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"GOMAXPROCS", "0"},     {"GOMAXPROCS", "abc"},   {"GOMAXPROCS", "-3"},   {"GOMAXPROCS", "2000"},
      {"GOGC", "abc"},         {"GOGC", "12x"},         {"GOGC", "OFF"},        {"GORTMAXSTACK", "4k"},
      {"GORTMAXSTACK", "abc"}, {"GORTMAXSTACK", "1t"},  {"GORTGCSTRESS", "-1"}, {"GORTGCSTRESS", "x"},
      {"GORTNUMA", "yes"},     {"GORTNUMA", "bind:"},   {"GORTNUMA", "bind:x"}, {"GORTNUMA", "bind:-1"},
      {"GORTNUMA_FAKE", "0"},  {"GORTNUMA_FAKE", "17"}, {"GORTNUMAPIN", "yes"}, {"GORTNUMAMEM", "interleave"},
      {"GORTLOG", "DEBUG"},    {"GORTLOG", "trace"},   {"GORTLOG", "2"},
      {"GODEBUG", "gctrace=x"}, {"GODEBUG", "gctrace=-1"},
  };
  for (const auto& [name, value] : bad) {
    const auto r = gort_test::run_child("knob child", {{name, value}});
    INFO(name << "=\"" << value << "\":\n" << r.err);
    REQUIRE(r.exit_status == 2);
    // Go's form, from the start of a line: the name, the value as given.
    const std::string line = "fatal error: malformed " + name + "=\"" + value + "\": want ";
    REQUIRE((r.err.rfind(line, 0) == 0 || r.err.find("\n" + line) != std::string::npos));
    REQUIRE(r.out.find("gomaxprocs=") == std::string::npos);  // it never ran
  }
}

TEST_CASE("well-formed knobs take effect", "[units][knobs]") {
  auto r = gort_test::run_child("knob child", {{"GOMAXPROCS", "3"}});
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  REQUIRE(r.out.find("gomaxprocs=3 ") != std::string::npos);

  for (const char* gogc : {"off", "-1", "0", "200"}) {
    r = gort_test::run_child("knob child", {{"GOGC", gogc}});
    INFO("GOGC=" << gogc << "\n" << r.err);
    REQUIRE(r.exit_status == 0);
  }

  r = gort_test::run_child("knob child", {{"GORTMAXSTACK", "1m"}, {"BIG_FRAME", "1"}});
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  REQUIRE(r.out.find("slot=1048576\n") != std::string::npos);

  r = gort_test::run_child("knob child", {{"GORTGCSTRESS", "0"}});
  INFO(r.err);
  REQUIRE(r.exit_status == 0);

  for (const auto& numa : std::vector<std::map<std::string, std::string>>{
           {{"GORTNUMA", "off"}},
           {{"GORTNUMA", "on"}},
           {{"GORTNUMA", "bind:0"}},
           {{"GORTNUMA_FAKE", "2"}, {"GORTNUMAPIN", "0"}, {"GORTNUMAMEM", "bind"}},
           {{"GORTNUMA_FAKE", "16"}, {"GORTNUMAPIN", "1"}, {"GORTNUMAMEM", "preferred"}}}) {
    r = gort_test::run_child("knob child", numa);
    INFO(r.err);
    REQUIRE(r.exit_status == 0);
  }
}

// Regression: an empty GOMAXPROCS was a fatal error; Go reads it as unset.
TEST_CASE("a knob set to the empty string counts as unset, as in Go", "[units][knobs]") {
  cpu_set_t cpus;
  REQUIRE(sched_getaffinity(0, sizeof cpus, &cpus) == 0);
  const std::string default_procs = "gomaxprocs=" + std::to_string(std::min(CPU_COUNT(&cpus), 1024)) + " ";
  const auto r = gort_test::run_child("knob child", {{"GOMAXPROCS", ""},
                                                     {"GOGC", ""},
                                                     {"GORTMAXSTACK", ""},
                                                     {"GORTGCSTRESS", ""},
                                                     {"GORTSTACKCANARY", ""},
                                                     {"GORTLOG", ""}});
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  REQUIRE(r.out.find(default_procs) != std::string::npos);
  REQUIRE(r.out.find("slot=262144\n") != std::string::npos);
  REQUIRE(r.err.find("canary") == std::string::npos);
}

// Quiet by default, as a Go program is: a start and exit that go well
// write nothing; GORTLOG=debug shows what the runtime decided at start.
TEST_CASE("a normal start and exit print nothing; GORTLOG sets how much the runtime says", "[units][knobs]") {
  auto r = gort_test::run_child("knob child", {{"GORTLOG", ""}});
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  REQUIRE(r.err.empty());
  REQUIRE(r.out.find("gort:") == std::string::npos);

  const std::string probe = "gort: stack guards: ";
  r = gort_test::run_child("knob child", {{"GORTLOG", "debug"}});
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  REQUIRE(r.err.rfind(probe, 0) == 0);  // the first line: the probe runs with the first stack
  REQUIRE(r.out.find(probe) == std::string::npos);

  // Forcing the canary is the probe's other debug line.
  r = gort_test::run_child("knob child", {{"GORTLOG", "debug"}, {"GORTSTACKCANARY", "1"}});
  REQUIRE(r.err.find(probe + "canary check at every switch") != std::string::npos);
  for (const char* level : {"info", "warn", "error", "off"}) {
    r = gort_test::run_child("knob child", {{"GORTLOG", level}, {"GORTSTACKCANARY", "1"}});
    INFO("GORTLOG=" << level << "\n" << r.err);
    REQUIRE(r.exit_status == 0);
    REQUIRE(r.err.empty());
  }

  // A warning (a stack size asked for too late) shows by default, and
  // GORTLOG=error or off hides it.
  const std::string warning = "gort: max_stack 1048576 ignored";
  for (const char* level : {"", "debug", "info", "warn"}) {
    r = gort_test::run_child("knob child", {{"GORTLOG", level}, {"RESIZE_STACKS", "1"}});
    INFO("GORTLOG=" << level << "\n" << r.err);
    REQUIRE(r.exit_status == 0);
    REQUIRE(r.err.find(warning) != std::string::npos);
  }
  for (const char* level : {"error", "off"}) {
    r = gort_test::run_child("knob child", {{"GORTLOG", level}, {"RESIZE_STACKS", "1"}});
    INFO("GORTLOG=" << level << "\n" << r.err);
    REQUIRE(r.exit_status == 0);
    REQUIRE(r.err.empty());
  }
}

TEST_CASE("a Config out of range is std::invalid_argument and the runtime stays usable", "[units][knobs]") {
  auto config = [](int gomaxprocs, size_t max_stack) {
    gort::Config c;
    c.gomaxprocs = gomaxprocs;
    c.max_stack = max_stack;
    return c;
  };
  REQUIRE_THROWS_AS(gort::run([] { return 0; }, config(-1, 0)), std::invalid_argument);
  REQUIRE_THROWS_WITH(gort::run([] { return 0; }, config(-1, 0)),
                      "gort::Config::gomaxprocs = -1: want 1..1024, or 0 for the default");
  REQUIRE_THROWS_AS(gort::run([] { return 0; }, config(5000, 0)), std::invalid_argument);
  REQUIRE_THROWS_AS(gort::run([] { return 0; }, config(1025, 0)), std::invalid_argument);
  REQUIRE_THROWS_AS(gort::run([] { return 0; }, config(2, 1000)), std::invalid_argument);
  REQUIRE_THROWS_AS(gort::run([] { return 0; }, config(2, 16 * 1024 - 1)), std::invalid_argument);
  REQUIRE(gort::run([] { return gort::gomaxprocs(); }, config(1024, 0)) == 1024);
  REQUIRE(gort::run([] { return gort::gomaxprocs(); }, config(2, 0)) == 2);
}

// ---- invariant checks (checked builds only: NDEBUG not defined) ----

#if GORT_CHECKS

TEST_CASE("broken lock invariant child", "[.child]") {
  if (!gort_test::in_child()) return;
  const std::string kind = std::getenv("BROKEN");
  static gort::internal::Lock lock;
  if (kind == "not held") {
    gort::internal::assert_lock_held(lock);
  } else if (kind == "held by another thread") {
    std::thread([] { lock.lock(); }).join();  // and never released
    gort::internal::assert_lock_held(lock);
  } else if (kind == "unlocked by another thread") {
    std::thread([] { lock.lock(); }).join();
    lock.unlock();
  } else if (kind == "timer heap without its lock") {
    static TimerHeap heap;
    static Timer t;
    t.when = 1;
    heap.add(&t);
  }
  std::printf("survived\n");
}

TEST_CASE("a broken lock invariant is a fatal error in checked builds", "[units][checks]") {
  const std::map<std::string, std::string> message = {
      {"not held", "the caller holds the lock"},
      {"held by another thread", "the caller holds the lock"},
      {"unlocked by another thread", "a runtime lock is released by the thread that holds it"},
      {"timer heap without its lock", "the caller holds the lock"},
  };
  for (const auto& [kind, what] : message) {
    const auto r = gort_test::run_child("broken lock invariant child", {{"BROKEN", kind}});
    INFO(kind << ":\n" << r.err);
    REQUIRE(r.exit_status == 2);
    REQUIRE(r.err.find("fatal error: invariant broken: " + what + " (") != std::string::npos);
    REQUIRE(r.out.find("survived") == std::string::npos);
  }
}

#endif

// Regression: the stopper of the world spun for its Ps without giving up
// its CPU. The thread it waited for was often queued behind it on that CPU
// (a thread wakes another, which takes its CPU over and stops the world)
// and stayed there for the rest of the stopper's time slice, milliseconds,
// while the other CPU idled: GCBench spent 20-36 ms in pauses, Go 8. Here
// both threads are real-time FIFO threads of one priority on one CPU, where
// the waker runs only if the spinner yields: a spin that does not would
// time out instead of being woken.
TEST_CASE("a spinning note sleep lets a waker queued on its CPU run", "[units][note]") {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(sched_getcpu(), &one);
  gort::internal::Note note;
  std::atomic<bool> armed{false};
  bool woken = false;
  bool fifo = true;
  std::thread sleeper([&] {
    sched_param fifo_param{};
    fifo_param.sched_priority = 1;
    if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0 ||
        pthread_setschedparam(pthread_self(), SCHED_FIFO, &fifo_param) != 0) {
      fifo = false;  // not allowed here (CI runs as root)
      return;
    }
    std::thread waker([&] {
      while (!armed.load()) sched_yield();
      note.wakeup();
    });  // inherits the CPU and the policy
    armed = true;
    woken = note.sleep_for(200'000'000, 200'000'000);
    waker.join();
  });
  sleeper.join();
  if (!fifo) {
    WARN("SCHED_FIFO not permitted: cannot check");
    return;
  }
  REQUIRE(woken);
}
