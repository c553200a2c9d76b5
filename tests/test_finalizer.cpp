// Finalizers (gc::set_finalizer, gc/finalizer.hpp): they run once, on the
// finalizer goroutine, after their object became unreachable; the object,
// what it references and what the finalizer captured survive until then;
// resurrection, clearing, chains, misuse; and the records are scanned
// beside the program, so a million of them do not lengthen the pause
// (unless GODEBUG=gcfinalizers=pause).
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gort/gort.hpp"
#include "sched/sched.hpp"
#include "support.hpp"

using gort_test::kProcCounts;
using gort_test::procs;
using gort_test::scrub_stack;

namespace gc = gort::gc;

namespace {

// Each test watches batches of objects with ids of its own, so garbage an
// earlier test left behind never counts. Batches, not single objects:
// conservative stack scanning may keep an object alive through a stale
// word (a recycled stack slot's unwritten frame slots, gc/README.md), so
// what must happen to every object is counted exactly (a finalizer never
// runs twice, never while its object is reachable, never before what it
// needs is freed), and what must happen eventually is asked of all but
// kSlack of a batch.
constexpr int kIds = 16;
constexpr int kBatch = 32;
constexpr int kSlack = 2;
std::atomic<int> destroyed[kIds];
std::atomic<int> finalized[kIds];
std::atomic<int> finalized_twice{0};
std::atomic<int> finalize_order{0};
std::atomic<int> order_of[kIds][kBatch];
std::atomic<gort::sched::G*> first_finalizer_g{nullptr};
std::atomic<int> other_finalizer_g{0};

struct Obj {
  gc::ref<Obj> next;
  int id = -1;
  int index = 0;
  std::atomic<int> runs{0};
  Obj(int i, int at) : id(i), index(at) {}
  ~Obj() {
    if (id >= 0) destroyed[id].fetch_add(1);
  }
  void trace(gc::Visitor& v) const { v(next); }
};

void reset() {
  for (int i = 0; i < kIds; ++i) {
    destroyed[i] = 0;
    finalized[i] = 0;
    for (auto& o : order_of[i]) o = 0;
  }
  finalized_twice = 0;
  finalize_order = 0;
  first_finalizer_g = nullptr;
  other_finalizer_g = 0;
}

void note_finalized(Obj* o) {
  gort::sched::G* expected = nullptr;
  gort::sched::G* self = gort::sched::current_g();
  if (!first_finalizer_g.compare_exchange_strong(expected, self) && expected != self) other_finalizer_g.fetch_add(1);
  if (o->runs.fetch_add(1) != 0) finalized_twice.fetch_add(1);
  order_of[o->id][o->index] = finalize_order.fetch_add(1) + 1;
  finalized[o->id].fetch_add(1);
}

// Runs fn in a goroutine that scrubs its stack and exits: what fn made and
// did not store elsewhere is unreachable afterwards.
template <class Fn>
void elsewhere(Fn fn) {
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&wg, fn] {
    fn();
    scrub_stack();
    wg.done();
  });
  wg.wait();
}

// Collects until done() or 20 collections have passed.
template <class Pred>
bool collect_until(Pred done) {
  for (int i = 0; i < 20 && !done(); ++i) {
    gc::collect();
    gort::yield();
  }
  return done();
}

bool all_but_slack(const std::atomic<int>& count, int of = kBatch) { return count.load() >= of - kSlack; }

// The main goroutine of each gort::run gets a recycled stack slot: clear
// what earlier runs left below this frame, and their garbage.
void settle() {
  scrub_stack();
  for (int i = 0; i < 3; ++i) gc::collect();
  reset();
}

// A batch of objects with finalizer fin, each handed to each(i, object)
// as it is made. Not gathered in an array unless each() does so: one
// stale word pointing at an array would keep the whole batch.
template <class Fin, class Each>
void make_batch(int id, Fin fin, Each each) {
  for (int i = 0; i < kBatch; ++i) {
    Obj* o = gc::make<Obj>(id, i);
    gc::set_finalizer(o, fin);
    each(i, o);
  }
}
void unkept(int, Obj*) {}

}  // namespace

TEST_CASE("a finalizer runs once, on the finalizer goroutine, after its object is unreachable", "[finalizer]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          settle();
          static gc::root<gc::ref<Obj>> kept;
          elsewhere([] {
            kept = gc::make_array<gc::ref<Obj>>(kBatch);
            make_batch(0, note_finalized, [](int i, Obj* o) { kept.get()[i] = o; });
            make_batch(1, note_finalized, unkept);
          });
          REQUIRE(collect_until([] { return all_but_slack(finalized[1]); }));
          for (int i = 0; i < 3; ++i) gc::collect();
          CHECK(finalized_twice == 0);
          CHECK(finalized[0] == 0);  // reachable all along
          // One system goroutine runs them all, not the collecting one.
          CHECK(other_finalizer_g == 0);
          CHECK(first_finalizer_g.load() != gort::sched::current_g());
          // Objects are freed only after their finalizers ran (destructor last).
          REQUIRE(collect_until([] { return destroyed[1].load() >= finalized[1].load(); }));
          CHECK(destroyed[0] == 0);
          elsewhere([] { kept = nullptr; });
          REQUIRE(collect_until([] { return all_but_slack(finalized[0]); }));
          CHECK(finalized_twice == 0);
        },
        procs(n));
  }
}

TEST_CASE("a finalizer may resurrect its object, which is freed when it dies again", "[finalizer]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          settle();
          static gc::root<gc::ref<Obj>> revived;
          elsewhere([] {
            revived = gc::make_array<gc::ref<Obj>>(kBatch);
            make_batch(
                3,
                [](Obj* self) {
                  note_finalized(self);
                  revived.get()[self->index] = self;
                },
                [](int i, Obj* o) { o->next = gc::make<Obj>(4, i); });
          });
          REQUIRE(collect_until([] { return all_but_slack(finalized[3]); }));
          for (int i = 0; i < 3; ++i) gc::collect();
          // Alive and whole, what they reference included (read elsewhere:
          // this frame must not keep them once dropped).
          static std::atomic<int> whole{0};
          whole = 0;
          elsewhere([] {
            for (int i = 0; i < kBatch; ++i) {
              Obj* o = revived.get()[i].get();
              if (o && o->id == 3 && o->index == i && o->next->id == 4 && o->next->index == i) whole.fetch_add(1);
            }
          });
          CHECK(whole == finalized[3]);
          CHECK(destroyed[3] == 0);
          CHECK(destroyed[4] == 0);
          elsewhere([] { revived = nullptr; });
          REQUIRE(collect_until([] { return all_but_slack(destroyed[3]) && all_but_slack(destroyed[4]); }));
          CHECK(finalized_twice == 0);  // not again
        },
        procs(n));
  }
}

TEST_CASE("set_finalizer(obj, nullptr) removes the finalizer", "[finalizer]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          settle();
          elsewhere([] {
            make_batch(5, note_finalized, [](int, Obj* o) {
              gc::set_finalizer(o, nullptr);
              gc::set_finalizer(o, nullptr);  // none set: nothing to do, as in Go
            });
          });
          REQUIRE(collect_until([] { return all_but_slack(destroyed[5]); }));
          CHECK(finalized[5] == 0);
        },
        procs(n));
  }
}

TEST_CASE("what a finalizer captures survives until it has run", "[finalizer]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          settle();
          static gc::root<gc::ref<Obj>> kept;
          static std::atomic<int> seen_whole{0};
          seen_whole = 0;
          elsewhere([] {
            kept = gc::make_array<gc::ref<Obj>>(kBatch);
            for (int i = 0; i < kBatch; ++i) {
              kept.get()[i] = gc::make<Obj>(6, i);
              Obj* captured = gc::make<Obj>(7, i);  // referenced only by the closure
              gc::set_finalizer(kept.get()[i].get(), [captured](Obj* self) {
                if (captured->id == 7 && captured->index == self->index) seen_whole.fetch_add(1);
                note_finalized(self);
              });
            }
          });
          for (int i = 0; i < 4; ++i) gc::collect();
          CHECK(destroyed[7] == 0);
          elsewhere([] { kept = nullptr; });
          REQUIRE(collect_until([] { return all_but_slack(finalized[6]); }));
          CHECK(seen_whole == finalized[6]);
          // Once run, a closure is gone, and with it what it held.
          REQUIRE(collect_until([] { return destroyed[7].load() >= finalized[6].load() - kSlack; }));
        },
        procs(n));
  }
}

TEST_CASE("in a chain, the finalizer of the referencing object runs first", "[finalizer]") {
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          settle();
          // 8 -> 9 -> 10, each with a finalizer: 9 is kept by 8's record,
          // 10 by 9's, so they are found unreachable one cycle after another.
          elsewhere([] {
            make_batch(8, note_finalized, [](int i, Obj* a) {
              a->next = gc::make<Obj>(9, i);
              a->next->next = gc::make<Obj>(10, i);
              gc::set_finalizer(a->next.get(), note_finalized);
              gc::set_finalizer(a->next->next.get(), note_finalized);
            });
          });
          const bool ended = collect_until([] { return all_but_slack(finalized[10]); });
          INFO("finalized " << finalized[8] << " " << finalized[9] << " " << finalized[10]);
          REQUIRE(ended);
          int out_of_order = 0;
          for (int i = 0; i < kBatch; ++i) {
            const int a = order_of[8][i], b = order_of[9][i], c = order_of[10][i];
            if (c != 0 && !(a != 0 && a < b && b < c)) ++out_of_order;
          }
          CHECK(out_of_order == 0);
          // A cycle through finalizers keeps itself alive, as in Go.
          elsewhere([] {
            make_batch(11, note_finalized, [](int i, Obj* a) {
              a->next = gc::make<Obj>(12, i);
              a->next->next = a;
              gc::set_finalizer(a->next.get(), note_finalized);
            });
          });
          for (int i = 0; i < 6; ++i) gc::collect();
          CHECK(finalized[11] == 0);
          CHECK(finalized[12] == 0);
          CHECK(destroyed[11] == 0);
        },
        procs(n));
  }
}

TEST_CASE("finalizers set while marking are kept", "[finalizer]") {
  // Goroutines set finalizers and drop objects while cycles run beside
  // them: a record added after its root job ran is shaded at once.
  for (const int n : kProcCounts) {
    INFO("GOMAXPROCS " << n);
    gort::run(
        [] {
          settle();
          static std::atomic<int> ran{0};
          static std::atomic<int> bad{0};
          ran = 0;
          bad = 0;
          constexpr int kObjects = 4000;
          gort::WaitGroup wg;
          for (int w = 0; w < 4; ++w) {
            wg.add(1);
            gort::go([&wg] {
              for (int i = 0; i < kObjects / 4; ++i) {
                Obj* o = gc::make<Obj>(13, 0);
                o->next = gc::make<Obj>(14, 0);
                Obj* extra = gc::make<Obj>(15, 0);
                gc::set_finalizer(o, [extra](Obj* self) {
                  // Both must be whole: nothing they hold was freed.
                  if (self->next.get() == nullptr || self->next->id != 14 || extra->id != 15) bad.fetch_add(1);
                  ran.fetch_add(1);
                });
                if (i % 64 == 0) gort::go([] { gc::collect(); });
              }
              scrub_stack();
              wg.done();
            });
          }
          wg.wait();
          REQUIRE(collect_until([] { return all_but_slack(ran, kObjects); }));
          CHECK(bad == 0);
        },
        procs(n));
  }
}

TEST_CASE("finalizer misuse child", "[.child]") {
  if (!gort_test::in_child()) return;
  const char* what = std::getenv("MISUSE");
  gort::run([what] {
    auto* a = gc::make_array<int>(4);
    if (std::strcmp(what, "interior") == 0) gc::set_finalizer(a + 1, [](int*) {});
    if (std::strcmp(what, "twice") == 0) {
      gc::set_finalizer(a, [](int*) {});
      gc::set_finalizer(a, [](int*) {});
    }
    if (std::strcmp(what, "nil") == 0) gc::set_finalizer(static_cast<int*>(nullptr), [](int*) {});
    if (std::strcmp(what, "not heap") == 0) {
      static int global;
      gc::set_finalizer(&global, [](int*) {});
    }
  });
}

TEST_CASE("set_finalizer misuse dies with Go's messages", "[finalizer]") {
  const std::pair<const char*, const char*> cases[] = {
      {"interior", "fatal error: runtime.SetFinalizer: pointer not at beginning of allocated block"},
      {"twice", "fatal error: runtime.SetFinalizer: finalizer already set"},
      {"nil", "fatal error: runtime.SetFinalizer: first argument is nil"},
      {"not heap", "fatal error: runtime.SetFinalizer: pointer not in allocated block"},
  };
  for (const auto& [what, message] : cases) {
    const auto r = gort_test::run_child("finalizer misuse child", {{"MISUSE", what}});
    INFO(what << "\n" << r.err);
    CHECK(r.exit_status != 0);
    CHECK(r.err.find(message) != std::string::npos);
  }
}

namespace {

// The median pause of `cycles` collections: on a loaded machine the kernel
// may preempt the pausing thread for a time slice in any one cycle, which
// says nothing about the work a pause does; the median does not see that.
uint64_t median_pause(int cycles) {
  std::vector<uint64_t> pauses;
  for (int i = 0; i < cycles; ++i) {
    gc::collect();
    pauses.push_back(uint64_t(gc::stats().last_pause_ns));
  }
  std::nth_element(pauses.begin(), pauses.begin() + cycles / 2, pauses.end());
  return pauses[size_t(cycles / 2)];
}

}  // namespace

TEST_CASE("finalizer pause child", "[.child]") {
  if (!gort_test::in_child()) return;
  gort::run([] {
    constexpr size_t kObjects = 1000000;
    static gc::root<gc::ref<Obj>> all;
    all = gc::make_array<gc::ref<Obj>>(kObjects);
    for (size_t i = 0; i < kObjects; ++i) {
      all.get()[i] = gc::make<Obj>(-1, 0);
      if (i) all.get()[i]->next = all.get()[i - 1].get();
    }
    constexpr int kCycles = 9;
    const uint64_t without = median_pause(kCycles);
    for (size_t i = 0; i < kObjects; ++i) gc::set_finalizer(all.get()[i].get(), [](Obj*) {});
    const uint64_t with = median_pause(kCycles);
    std::printf("without=%llu with=%llu\n", static_cast<unsigned long long>(without),
                static_cast<unsigned long long>(with));
  });
}

namespace {

struct Pauses {
  double without = 0, with = 0;
};

Pauses pauses_of_child(const char* godebug) {
  const auto r = gort_test::run_child("finalizer pause child", {{"GORTGCSTRESS", "0"}, {"GODEBUG", godebug}});
  INFO(godebug << "\n" << r.err);
  REQUIRE(r.exit_status == 0);
  unsigned long long without = 0, with = 0;
  const auto at = r.out.find("without=");
  REQUIRE(at != std::string::npos);
  REQUIRE(std::sscanf(r.out.c_str() + at, "without=%llu with=%llu", &without, &with) == 2);
  return {double(without), double(with)};
}

}  // namespace

TEST_CASE("a million finalizers do not lengthen the pause, unless scanned in it", "[finalizer][big]") {
  const Pauses concurrent = pauses_of_child("gcfinalizers=concurrent");
  const Pauses paused = pauses_of_child("gcfinalizers=pause");
  std::printf("median pause without / with 1e6 finalizers: concurrent %.0f / %.0f us, in the pause %.0f / %.0f us\n",
              concurrent.without / 1e3, concurrent.with / 1e3, paused.without / 1e3, paused.with / 1e3);
  constexpr double kSlackNs = 1e6;  // scheduling noise of a loaded machine
  CHECK(concurrent.with <= 3 * concurrent.without + kSlackNs);
  CHECK(paused.with >= 3 * paused.without + kSlackNs);
}

TEST_CASE("finalizer knob child", "[.child]") {
  if (!gort_test::in_child()) return;
  gort::run([] { gc::collect(); });
}

TEST_CASE("GODEBUG=gcfinalizers takes concurrent or pause", "[finalizer]") {
  for (const char* good : {"gcfinalizers=concurrent", "gcfinalizers=pause"}) {
    const auto r = gort_test::run_child("finalizer knob child", {{"GODEBUG", good}});
    INFO(good << "\n" << r.err);
    CHECK(r.exit_status == 0);
  }
  const auto bad = gort_test::run_child("finalizer knob child", {{"GODEBUG", "gcfinalizers=stw"}});
  CHECK(bad.exit_status != 0);
  CHECK(bad.err.find("fatal error: malformed GODEBUG=\"gcfinalizers=stw\": want gcfinalizers=pause or "
                     "gcfinalizers=concurrent") != std::string::npos);
}

namespace {

std::atomic<int> held_finalized{0};

// The runtime's own goroutines (mark workers, the sweeper, the finalizer
// goroutine) say their stacks hold no roots, only stale addresses of
// objects they walked. A mark worker that blackened an object kept its
// address in its frames, scanned its own stack at the next cycle's safe
// point regardless, marked the object again and blackened it again: kept
// alive for ever, its finalizer never ran (test_memstats, 1 run in 100 under
// ASan). Here a goroutine holds the only copy of an object's address on its
// stack and says it holds no roots, and runs through cycles: allocating,
// starting them itself and scanning its own stack at a safe point, or in a
// loop without safe points, stopped by signal and scanned from its
// registers.
int finalized_under_a_rootless_stack(int procs_n, bool safepoints) {
  held_finalized = 0;
  return gort::run(
      [safepoints] {
        std::atomic<bool> holding{false}, stop{false};
        gort::WaitGroup done;
        done.add(1);
        gort::go([&] {
          gort::sched::current_g()->holds_no_roots = true;
          Obj* o = gc::make<Obj>(-1, 0);
          gc::set_finalizer(o, [](Obj*) { held_finalized.fetch_add(1); });
          volatile uintptr_t held = reinterpret_cast<uintptr_t>(o);
          holding = true;
          if (safepoints) {
            // Allocating, it starts cycles itself and runs on through them.
            while (!stop.load(std::memory_order_relaxed)) {
              gc::make<Obj>(-1, 0);
              gort::safepoint();
            }
          } else {
            while (!stop.load(std::memory_order_relaxed)) {
            }
          }
          (void)held;
          done.done();
        });
        while (!holding.load()) gort::yield();
        for (int i = 0; i < 2000 && held_finalized.load() == 0; ++i) {
          // Without safe points the holder starts no cycle: this goroutine does.
          if (!safepoints) gc::collect();
          gort::sleep(std::chrono::milliseconds(1));  // the finalizer goroutine's turn
        }
        stop = true;
        done.wait();
        return held_finalized.load();
      },
      procs(procs_n));
}

}  // namespace

TEST_CASE("a goroutine whose stack holds no roots keeps nothing alive whether running or stopped", "[finalizer][gc]") {
  for (const int n : kProcCounts) {
    for (const bool safepoints : {true, false}) {
      INFO("GOMAXPROCS " << n << (safepoints ? ", allocating through safe points" : ", in a loop without safe points"));
      REQUIRE(finalized_under_a_rootless_stack(n, safepoints) == 1);
    }
  }
}
