// A randomised stress test of the collector beside everything else the
// runtime does, through the public API only. Many goroutines on several Ps
// allocate collected objects, rewire a shared graph, park on channels, and
// hand raw pointers to collected objects to each other through buffered
// channels, timer closures and a Timer-guarded mailbox, while one goroutine
// collects back to back and checks the whole graph after every cycle.
//
// Every object can vouch for itself: a magic word its destructor
// overwrites, the ids of its children and a checksum over both. An object
// reclaimed while still reachable shows up as a dead magic, a checksum that
// no longer matches (its memory was handed to another object) or a child
// whose id is not the one recorded. An object that only a channel buffer or
// a timer holds is flagged "in flight", and its destructor counts it if it
// runs before the receiver has cleared the flag: that catches a premature
// reclaim even when the memory has already been reused. The test asserts
// that nothing was damaged, and counts instead of crashing where it can, so
// that a failure says what went wrong.
//
// The seed is random unless GORT_STRESS_SEED is set; it is printed on
// failure. The schedule is not reproducible, but the mix of work is.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <vector>

#include "gort/gort.hpp"
#include "support.hpp"

using gort_test::procs;

namespace gc = gort::gc;

namespace {

// How long to go on: at least kCycles collections and kInFlight trees
// handed over through channels and timers, whichever takes longer (how
// much work fits between two collections depends on the machine and the
// number of Ps). Sanitizers slow everything down (TSan about tenfold); the
// interleavings that matter still appear with less. The seed is new on
// every run (GORT_STRESS_SEED replays one), so CI covers more ground run
// after run than one long run would; these sizes keep the three builds'
// runs, at 2, 4 and 8 Ps and under GORTGCSTRESS, to a few minutes in all.
#if defined(__SANITIZE_THREAD__)
constexpr int kCycles = 60;
constexpr long kInFlight = 400;
#elif defined(__SANITIZE_ADDRESS__)
constexpr int kCycles = 300;
constexpr long kInFlight = 3000;
#else
constexpr int kCycles = 500;
constexpr long kInFlight = 4000;
#endif

constexpr int kProgressEvery = kCycles / 4;  // a line on stderr every quarter of the cycles

constexpr uint64_t kLiveMagic = 0x6c69766520676f72;  // "live gor"
constexpr uint64_t kDeadMagic = 0xdeadbeefdeadbeef;
constexpr int kLevels = 5;  // a node's children have lower levels: the graph is a DAG of depth <= 5
constexpr int kSlots = 64;  // roots of the shared graph

uint64_t mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9;
  x ^= x >> 27;
  x *= 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

struct Rng {
  uint64_t s;
  uint64_t next() { return mix(s += 0x9e3779b97f4a7c15); }
  int below(int n) { return int(next() % uint64_t(n)); }
  bool coin() { return (next() & 1) != 0; }
};

// What the checks found; every counter must stay zero.
struct Damage {
  std::atomic<long> dead_reachable{0};  // a reachable object whose destructor ran
  std::atomic<long> clobbered{0};       // bad magic or checksum: the memory is someone else's
  std::atomic<long> wrong_child{0};     // a child that is not the one recorded
  std::atomic<long> died_in_flight{0};  // destroyed while a channel or timer held it
  std::atomic<long> lost_flight{0};     // arrived without its in-flight flag

  long total() const { return dead_reachable + clobbered + wrong_child + died_in_flight + lost_flight; }
};

Damage damage;
std::atomic<uint64_t> next_id{1};
std::atomic<long> destroyed{0};

struct Obj {
  uint64_t magic = kLiveMagic;
  uint64_t id;
  int32_t level;
  // Non-zero while the only references are in a channel buffer or a timer.
  std::atomic<int32_t> in_flight{0};
  gc::ref<Obj> kid[2];
  uint64_t kid_id[2] = {0, 0};
  uint64_t check = 0;

  Obj(uint64_t i, int lvl) : id(i), level(lvl) { seal(); }
  ~Obj() {
    // Runs after the pause, on the collecting goroutine: must not follow
    // kid, which may be gone.
    if (in_flight.load(std::memory_order_relaxed) != 0) damage.died_in_flight.fetch_add(1);
    magic = kDeadMagic;
    destroyed.fetch_add(1, std::memory_order_relaxed);
  }
  void trace(gc::Visitor& v) const {
    v(kid[0]);
    v(kid[1]);
  }

  uint64_t sum() const { return mix(id ^ mix(uint64_t(level) + mix(kid_id[0] ^ mix(kid_id[1])))); }
  void seal() { check = sum(); }
  void set_kid(int i, Obj* o) {
    kid[i] = o;
    kid_id[i] = o ? o->id : 0;
    seal();
  }
};

struct Graph {
  gc::ref<Obj> slot[kSlots];
  void trace(gc::Visitor& v) const {
    for (const auto& s : slot) v(s);
  }
};

// Checks one object without following its children; counts what is wrong.
bool intact(const Obj* o) {
  if (o->magic == kDeadMagic) {
    damage.dead_reachable.fetch_add(1);
    return false;
  }
  if (o->magic != kLiveMagic || o->check != o->sum() || o->level < 0 || o->level >= kLevels) {
    damage.clobbered.fetch_add(1);
    return false;
  }
  return true;
}

// Checks o and everything below it (at most 2^kLevels paths, so no visited
// set is needed). A damaged node's children are not followed: its fields may
// be anyone's bytes.
bool check_tree(const Obj* o, int32_t expect_in_flight = -1) {
  if (!intact(o)) return false;
  if (expect_in_flight >= 0 && o->in_flight.load(std::memory_order_relaxed) != expect_in_flight) {
    damage.lost_flight.fetch_add(1);
    return false;
  }
  bool ok = true;
  for (int i = 0; i < 2; ++i) {
    const Obj* k = o->kid[i].get();
    if (!k) {
      if (o->kid_id[i] != 0) {
        damage.wrong_child.fetch_add(1);
        ok = false;
      }
      continue;
    }
    if (k->id != o->kid_id[i] || k->level >= o->level) {
      damage.wrong_child.fetch_add(1);
      ok = false;
      continue;
    }
    ok = check_tree(k, expect_in_flight) && ok;
  }
  return ok;
}

void set_in_flight(Obj* o, int32_t v) {
  o->in_flight.store(v, std::memory_order_relaxed);
  for (auto& k : o->kid)
    if (k) set_in_flight(k.get(), v);
}

// A fresh tree of the given level, each child present with probability 3/4.
Obj* grow(int level, Rng& r) {
  Obj* o = gc::make<Obj>(next_id.fetch_add(1, std::memory_order_relaxed), level);
  if (level > 0)
    for (int i = 0; i < 2; ++i)
      if (r.below(4) != 0) o->set_kid(i, grow(level - 1, r));
  return o;
}

// Allocates a tree nobody else can see and hands it over: only ch holds it
// once this returns. noinline, so that its frame, and with it the last stack
// copy of the pointer, is gone by the time the caller parks; otherwise a
// conservative scan of the sender would keep the object alive for it.
__attribute__((noinline)) void send_fresh(const gort::chan<Obj*>& ch, Rng& r) {
  Obj* o = grow(r.below(3), r);
  set_in_flight(o, 1);
  ch.send(o);
}

struct World {
  gc::root<Graph> graph{gc::make<Graph>()};
  gort::Mutex mu;  // guards every ref in the graph: refs are plain pointers, as Go's are
  std::atomic<bool> stop{false};
  std::atomic<long> sent{0}, received{0}, linked{0}, graph_checks{0}, worker_rounds{0};
  std::atomic<int> workers_warm{0};  // workers that have finished at least one round

  // A random intact node at or below a random slot (mu held).
  Obj* pick(Rng& r) {
    Obj* o = graph->slot[r.below(kSlots)].get();
    while (o && intact(o)) {
      Obj* k = o->kid[r.below(2)].get();
      if (!k || r.below(3) == 0) return o;
      o = k;
    }
    return nullptr;
  }

  // A reachable node of level below `level`, or null (mu held).
  Obj* pick_below(int level, Rng& r) {
    for (int tries = 0; tries < 4; ++tries) {
      Obj* o = pick(r);
      while (o && o->level >= level) {
        Obj* k = o->kid[r.below(2)].get();
        if (k && !intact(k)) return nullptr;
        o = k;
      }
      if (o) return o;
    }
    return nullptr;
  }

  void check_graph() {
    std::lock_guard<gort::Mutex> l(mu);
    for (const auto& s : graph->slot)
      if (s) check_tree(s.get());
    graph_checks.fetch_add(1, std::memory_order_relaxed);
  }

  // Takes delivery of a tree that travelled through a channel or a timer.
  void receive(Obj* o, Rng& r) {
    received.fetch_add(1, std::memory_order_relaxed);
    if (!check_tree(o, 1)) return;  // counted; do not let damage spread into the graph
    set_in_flight(o, 0);
    if (r.below(4) == 0) {
      std::lock_guard<gort::Mutex> l(mu);
      graph->slot[r.below(kSlots)] = o;
      linked.fetch_add(1, std::memory_order_relaxed);
    }
  }

  // One random change to the shared graph, or a check of part of it.
  void mutate(Rng& r) {
    const int action = r.below(10);
    if (action < 3) {
      Obj* fresh = grow(r.below(kLevels), r);  // allocate outside the lock
      std::lock_guard<gort::Mutex> l(mu);
      graph->slot[r.below(kSlots)] = fresh;
    } else if (action < 7) {
      Obj* fresh = r.coin() ? grow(r.below(kLevels - 1), r) : nullptr;
      std::lock_guard<gort::Mutex> l(mu);
      Obj* a = pick(r);
      if (!a || a->level == 0) return;
      Obj* target = nullptr;
      if (fresh && fresh->level < a->level) target = fresh;
      else if (r.coin()) target = pick_below(a->level, r);
      a->set_kid(r.below(2), target);
    } else {
      std::lock_guard<gort::Mutex> l(mu);
      if (Obj* o = graph->slot[r.below(kSlots)].get()) check_tree(o);
    }
  }
};

// Counts a worker's rounds; the collector keeps going until every worker
// has done at least one, so each kind of traffic really met collections.
struct Rounds {
  World& w;
  bool warm = false;
  void done() {
    w.worker_rounds.fetch_add(1, std::memory_order_relaxed);
    if (!warm) {
      warm = true;
      w.workers_warm.fetch_add(1);
    }
  }
};

// A pure-computation pass over a tree the goroutine owns: no safe point,
// so the collector may have to stop this thread by signal in the middle.
__attribute__((noipa)) uint64_t fold(const Obj* o) {
  if (!o) return 0;
  return o->check ^ (fold(o->kid[0].get()) * 3) ^ (fold(o->kid[1].get()) * 7);
}

void mutator(World& w, Rng r) {
  Rounds rounds{w};
  while (!w.stop.load(std::memory_order_relaxed)) {
    for (int i = 0; i < 16; ++i) w.mutate(r);
    // Garbage, and a tree held only by this stack across a park.
    Obj* mine = grow(kLevels - 1, r);
    const uint64_t before = fold(mine);
    if (r.coin()) gort::yield();
    else gort::sleep(std::chrono::microseconds(r.below(200)));
    if (check_tree(mine) && fold(mine) != before) damage.clobbered.fetch_add(1);
    rounds.done();
  }
}

// Long stretches of pure computation over a private tree: no safe point for
// hundreds of microseconds, past the 100 us stop_the_world waits before it
// signals, so this thread is stopped by SIGURG and must stay stopped until
// the collection is over.
void spinner(World& w, Rng r) {
  Rounds rounds{w};
  while (!w.stop.load(std::memory_order_relaxed)) {
    Obj* mine = grow(kLevels - 1, r);
    const uint64_t expect = fold(mine);
    uint64_t acc = 0;
    for (int i = 0; i < 4000; ++i) acc += fold(mine) ^ uint64_t(i);
    uint64_t want = 0;
    for (int i = 0; i < 4000; ++i) want += expect ^ uint64_t(i);
    if (acc != want || !check_tree(mine)) damage.clobbered.fetch_add(1);
    rounds.done();
    // Allocation is no safe point either: without this the spinners would
    // keep their Ps for good and starve everyone else.
    gort::yield();
  }
}

// Producer and consumer of one buffered channel. The consumer dawdles so
// that objects sit in the buffer, referenced from nowhere else, across
// collections.
void producer(World& w, gort::chan<Obj*> ch, Rng r) {
  Rounds rounds{w};
  while (!w.stop.load(std::memory_order_relaxed)) {
    const int burst = 1 + r.below(int(ch.cap()));
    for (int i = 0; i < burst; ++i) send_fresh(ch, r);
    w.sent.fetch_add(burst, std::memory_order_relaxed);
    rounds.done();
    gort::sleep(std::chrono::microseconds(r.below(300)));
  }
  ch.close();
}

void consumer(World& w, gort::chan<Obj*> ch, Rng r) {
  for (bool open = true; open;) {
    gort::select(gort::recv(ch,
                            [&](Obj* o, bool ok) {
                              if (ok) w.receive(o, r);
                              else open = false;
                            }),
                 gort::recv(gort::after(std::chrono::microseconds(50 + r.below(500)))));
    if (r.below(4) == 0) gort::sleep(std::chrono::microseconds(r.below(1000)));
  }
}

// Arms a batch of after_func timers, each capturing only a raw pointer to a
// fresh tree: until it fires, the timer is the tree's only holder.
struct TimerBatch {
  World& w;
  gort::WaitGroup fired;
  Rng r;
};

__attribute__((noinline)) std::unique_ptr<gort::Timer> arm_one(TimerBatch* b) {
  Obj* o = grow(b->r.below(3), b->r);
  set_in_flight(o, 1);
  // Two pointers: small enough to sit inside std::function itself.
  return gort::after_func(std::chrono::microseconds(100 + b->r.below(2000)), [o, b] {
    Rng r{mix(o->id)};
    b->w.receive(o, r);
    b->fired.done();
  });
}

void timer_user(World& w, Rng r) {
  Rounds rounds{w};
  TimerBatch b{w, {}, r};
  while (!w.stop.load(std::memory_order_relaxed)) {
    const int n = 1 + b.r.below(8);
    std::vector<std::unique_ptr<gort::Timer>> timers;
    b.fired.add(n);
    for (int i = 0; i < n; ++i) timers.push_back(arm_one(&b));
    w.sent.fetch_add(n, std::memory_order_relaxed);
    b.fired.wait();
    rounds.done();
  }
}

// A private mailbox: fresh trees wait in a buffered channel only this
// goroutine knows while it waits on a Timer (sometimes reset or stopped).
void mailbox_user(World& w, Rng r) {
  Rounds rounds{w};
  auto box = gort::make_chan<Obj*>(4);
  while (!w.stop.load(std::memory_order_relaxed)) {
    const int n = 1 + r.below(4);
    for (int i = 0; i < n; ++i) send_fresh(box, r);
    w.sent.fetch_add(n, std::memory_order_relaxed);
    gort::Timer t(std::chrono::microseconds(100 + r.below(1500)));
    switch (r.below(3)) {
      case 0:
        t.C.recv();
        break;
      case 1:
        t.reset(std::chrono::microseconds(r.below(1000)));
        t.C.recv();
        break;
      default:
        if (t.stop()) gort::sleep(std::chrono::microseconds(r.below(1000)));
        else t.C.recv();
    }
    while (box.len() > 0) w.receive(box.recv(), r);
    rounds.done();
  }
}

struct Report {
  long dead_reachable, clobbered, wrong_child, died_in_flight, lost_flight;
  long sent, received, linked, graph_checks, worker_rounds, destroyed;
  uint64_t collections;
};

Report stress(int nprocs, uint64_t seed) {
  return gort::run(
      [seed, nprocs] {
        damage.dead_reachable = damage.clobbered = damage.wrong_child = 0;
        damage.died_in_flight = damage.lost_flight = 0;
        destroyed = 0;
        const uint64_t gc_before = gc::stats().num_gc;
        World w;
        Rng r{seed};
        {
          std::lock_guard<gort::Mutex> l(w.mu);
          for (auto& s : w.graph->slot) s = grow(kLevels - 1, r);
        }
        constexpr int kMutators = 8, kSpinners = 4, kPairs = 6, kTimerUsers = 6, kMailboxes = 6;
        gort::WaitGroup wg;
        auto start = [&](auto fn, auto... args) {
          wg.add(1);
          gort::go([&wg, fn, args...]() mutable {
            fn(args...);
            wg.done();
          });
        };
        for (int i = 0; i < kMutators; ++i) start([&w](Rng rr) { mutator(w, rr); }, Rng{r.next()});
        for (int i = 0; i < kSpinners; ++i) start([&w](Rng rr) { spinner(w, rr); }, Rng{r.next()});
        for (int i = 0; i < kPairs; ++i) {
          auto ch = gort::make_chan<Obj*>(size_t(4 + r.below(28)));
          start([&w](gort::chan<Obj*> c, Rng rr) { producer(w, c, rr); }, ch, Rng{r.next()});
          start([&w](gort::chan<Obj*> c, Rng rr) { consumer(w, c, rr); }, ch, Rng{r.next()});
        }
        for (int i = 0; i < kTimerUsers; ++i) start([&w](Rng rr) { timer_user(w, rr); }, Rng{r.next()});
        for (int i = 0; i < kMailboxes; ++i) start([&w](Rng rr) { mailbox_user(w, rr); }, Rng{r.next()});
        // The collector: back to back, checking the whole graph after each.
        constexpr int kWorkers = kMutators + kSpinners + kPairs + kTimerUsers + kMailboxes;
        start([&w, nprocs] {
          for (int i = 0; i < kCycles || w.sent.load() < kInFlight || w.workers_warm.load() < kWorkers; ++i) {
            gc::collect();
            w.check_graph();
            // Minutes under the sanitizers: show the run is alive, on
            // stderr, where Catch2's report does not go.
            if ((i + 1) % kProgressEvery == 0)
              std::fprintf(
                  stderr, "stress on %d Ps: %d collections (of at least %d), %ld trees handed over (of at least %ld)\n",
                  nprocs, i + 1, kCycles, w.sent.load(), kInFlight);
          }
          w.stop = true;
        });
        wg.wait();
        // Two more full checks once everything has settled.
        for (int i = 0; i < 2; ++i) {
          gc::collect();
          w.check_graph();
        }
        return Report{damage.dead_reachable.load(),
                      damage.clobbered.load(),
                      damage.wrong_child.load(),
                      damage.died_in_flight.load(),
                      damage.lost_flight.load(),
                      w.sent.load(),
                      w.received.load(),
                      w.linked.load(),
                      w.graph_checks.load(),
                      w.worker_rounds.load(),
                      destroyed.load(),
                      gc::stats().num_gc - gc_before};
      },
      procs(nprocs));
}

uint64_t pick_seed() {
  if (const char* s = std::getenv("GORT_STRESS_SEED")) return std::strtoull(s, nullptr, 0);
  return (uint64_t(std::random_device{}()) << 32) | std::random_device{}();
}

void stress_test(int nprocs) {
  const uint64_t seed = pick_seed();
  INFO("GORT_STRESS_SEED=" << seed << " GOMAXPROCS=" << nprocs);
  const Report r = stress(nprocs, seed);
  INFO("damage: dead_reachable=" << r.dead_reachable << " clobbered=" << r.clobbered << " wrong_child=" << r.wrong_child
                                 << " died_in_flight=" << r.died_in_flight << " lost_flight=" << r.lost_flight);
  INFO("work: collections=" << r.collections << " graph_checks=" << r.graph_checks << " sent=" << r.sent
                            << " received=" << r.received << " linked=" << r.linked
                            << " worker_rounds=" << r.worker_rounds << " destroyed=" << r.destroyed);
  CHECK(r.dead_reachable == 0);
  CHECK(r.clobbered == 0);
  CHECK(r.wrong_child == 0);
  CHECK(r.died_in_flight == 0);
  CHECK(r.lost_flight == 0);
  REQUIRE(r.received == r.sent);  // every tree in flight arrived exactly once
  REQUIRE(r.sent >= kInFlight);
  REQUIRE(r.graph_checks >= kCycles + 2);  // the collector really ran all its cycles
  REQUIRE(r.collections >= uint64_t(kCycles));
  REQUIRE(r.destroyed > 0);  // garbage was reclaimed, so reuse was possible
}

}  // namespace

TEST_CASE("stress on 2 Ps: collected objects stay intact under back-to-back collections", "[stress]") {
  stress_test(2);
}

TEST_CASE("stress on 4 Ps: collected objects stay intact under back-to-back collections", "[stress]") {
  stress_test(4);
}

TEST_CASE("stress on 8 Ps: collected objects stay intact under back-to-back collections", "[stress]") {
  stress_test(8);
}
