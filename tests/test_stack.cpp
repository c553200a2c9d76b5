// stack/: slots, guards, recycling, and the overflow message.
#include <sys/mman.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <set>
#include <vector>

#include "gort/gort.hpp"
#include "sched/sched.hpp"
#include "stack/pool.hpp"
#include "stack/space.hpp"
#include "support.hpp"

using gort::stack::kPageSize;
using gort::stack::Pool;
using gort::stack::Space;
using gort::stack::Stack;

namespace {

size_t resident_pages(uintptr_t lo, uintptr_t hi) {
  std::vector<unsigned char> vec((hi - lo) / kPageSize);
  REQUIRE(mincore(reinterpret_cast<void*>(lo), hi - lo, vec.data()) == 0);
  size_t n = 0;
  for (unsigned char c : vec) n += c & 1;
  return n;
}

// Recursion that the compiler can neither flatten nor turn into a loop.
__attribute__((noinline)) size_t recurse(size_t depth, size_t limit) {
  volatile char frame[1024];
  frame[0] = char(depth);
  if (depth == limit) return frame[0];
  const size_t r = recurse(depth + 1, limit) + frame[0];
  asm volatile("" ::: "memory");
  return r;
}

}  // namespace

TEST_CASE("slots are distinct, page aligned and of the configured size", "[stack]") {
  std::set<uintptr_t> tops;
  for (int i = 0; i < 100; ++i) {
    const Stack s = Space::get().carve();
    REQUIRE(s.lo % kPageSize == 0);
    REQUIRE(s.hi % kPageSize == 0);
    REQUIRE(s.size() + kPageSize == Space::get().slot_size());
    REQUIRE(tops.insert(s.hi).second);
    Pool::get().give(&s, 1);
  }
}

TEST_CASE("trimming many adjacent slots keeps their guard pages", "[stack]") {
  // Cold slots are decommitted in merged ranges that span guard pages; the
  // guards must survive that (the overflow tests below rely on it too).
  std::vector<Stack> slots(600);
  Pool::get().take(slots.data(), slots.size());
  for (const Stack& s : slots) *reinterpret_cast<volatile char*>(s.hi - 1) = 1;
  Pool::get().give(slots.data(), slots.size());
  Pool::get().trim_all();
  for (const Stack& s : slots) REQUIRE(resident_pages(s.lo, s.hi) <= 1);
  Stack probe;
  REQUIRE(Space::get().find_guard(slots[0].lo - 1, &probe));
  REQUIRE(probe.lo == slots[0].lo);
}

TEST_CASE("this kernel installs guard pages", "[stack]") {
  // The machines gort targets run Linux >= 6.13; the fallback is tested below.
  REQUIRE(Space::get().guard_mode() == gort::stack::GuardMode::kGuardPages);
}

TEST_CASE("a slot given back to the pool returns its pages to the OS", "[stack]") {
  Stack s;
  Pool::get().take(&s, 1);
  std::memset(reinterpret_cast<void*>(s.lo), 0xab, s.size());
  REQUIRE(resident_pages(s.lo, s.hi) == s.size() / kPageSize);
  Pool::get().give(&s, 1);
  Pool::get().trim_all();
  // At most the top page stays committed (the warm part of the pool).
  REQUIRE(resident_pages(s.lo, s.hi) <= 1);
  REQUIRE(Pool::get().dirty() == 0);
}

TEST_CASE("a goroutine can use most of its slot", "[stack]") {
  const size_t frames = gort::run([] {
    size_t got = 0;
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      got = recurse(0, 150);  // ~150 KiB of a 256 KiB slot
      wg.done();
    });
    wg.wait();
    return got;
  });
  REQUIRE(frames > 0);
}

TEST_CASE("overflow child", "[.child]") {
  if (!gort_test::in_child()) return;
  gort::run([] {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      recurse(0, size_t(1) << 30);
      wg.done();
    });
    wg.wait();
  });
}

TEST_CASE("stack overflow ends the process naming the goroutine and its stack size", "[stack]") {
  const auto r = gort_test::run_child("overflow child", {});
  INFO(r.err);
  REQUIRE(r.exit_status == 2);
  REQUIRE(r.err.find("fatal error: stack overflow: goroutine 2 exceeded its 256 KiB stack "
                     "(hit the guard page") != std::string::npos);
}

TEST_CASE("the overflow message follows GORTMAXSTACK", "[stack]") {
  const auto r = gort_test::run_child("overflow child", {{"GORTMAXSTACK", "64k"}});
  INFO(r.err);
  REQUIRE(r.exit_status == 2);
  REQUIRE(r.err.find("goroutine 2 exceeded its 64 KiB stack") != std::string::npos);
}

TEST_CASE("without guard pages the canary catches the overflow at the next switch", "[stack]") {
  const auto r = gort_test::run_child("canary child", {{"GORTSTACKCANARY", "1"}, {"GORTLOG", "debug"}});
  INFO(r.err);
  REQUIRE(r.err.find("falling back") == std::string::npos);
  REQUIRE(r.err.find("canary check at every switch") != std::string::npos);
  REQUIRE(r.exit_status == 2);
  REQUIRE(r.err.find("fatal error: stack overflow: goroutine 2 exceeded its 256 KiB stack "
                     "(canary smashed") != std::string::npos);
}

TEST_CASE("canary child", "[.child]") {
  if (!gort_test::in_child()) return;
  gort::run([] {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      // Scribble on the word just below the usable stack, where an
      // overflow lands first (a real overflow would run on into the
      // neighbouring slot, which has no guard in this mode).
      const uintptr_t lo = gort::sched::current_g()->stack.lo;
      *reinterpret_cast<volatile uint64_t*>(lo - sizeof(uint64_t)) = 0;
      gort::yield();
      wg.done();
    });
    wg.wait();
  });
}

namespace {

constexpr uint64_t kStackTag = 0x57a1e57a1e57a1e5ULL;
constexpr int kTaggers = 64;

// What deep frames leave behind on a stack: words no later frame need
// overwrite.
__attribute__((noinline)) void leave_tags_below() {
  volatile uint64_t words[2048];  // 16 KiB
  for (auto& w : words) w = kStackTag;
}

// The tags anywhere below this frame on the calling goroutine's stack, read
// as the collector's conservative scan reads it (red zones included).
__attribute__((noinline, no_sanitize("address", "thread"))) size_t tags_below() {
  const gort::sched::G* g = gort::sched::current_g();
  const auto sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  size_t n = 0;
  for (uintptr_t a = g->stack.lo; a + sizeof(uint64_t) <= sp; a += sizeof(uint64_t))
    n += *reinterpret_cast<const volatile uint64_t*>(a) == kStackTag;
  return n;
}

}  // namespace

// The stack slots of one gort::run serve the next. Whatever a goroutine
// left on its stack must not be there for the next run's goroutines: their
// frames leave some slots unwritten, the collector scans those
// conservatively, and an old address there keeps alive whatever object the
// heap has put at it since (test_gc's exact destructor counts failed so
// under ASan at 4 and 8 Ps, after a run at 2).
TEST_CASE("a goroutine of the next gort::run finds nothing of the last run's on its stack", "[stack]") {
  for (const int n : gort_test::kProcCounts) {
    INFO("GOMAXPROCS " << n);
    size_t found = 0;
    for (int rep = 0; rep < 3; ++rep) {  // which slot serves whom varies
      gort::run(
          [] {
            gort::WaitGroup wg;
            wg.add(kTaggers);
            for (int i = 0; i < kTaggers; ++i)
              gort::go([&wg] {
                leave_tags_below();
                wg.done();
              });
            wg.wait();
            leave_tags_below();
          },
          gort_test::procs(n));
      found += gort::run(
          [] {
            std::atomic<size_t> tags{tags_below()};
            gort::WaitGroup wg;
            wg.add(kTaggers);
            for (int i = 0; i < kTaggers; ++i)
              gort::go([&] {
                tags.fetch_add(tags_below());
                wg.done();
              });
            wg.wait();
            return tags.load();
          },
          gort_test::procs(n));
    }
    REQUIRE(found == 0);
  }
}
