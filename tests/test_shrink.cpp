// Stack shrinking (stack/shrink.hpp, gc/roots.cpp): goroutines that
// recursed deep once and then parked give their stack pages back when the
// collector scans them, beside the program by default, in mark termination
// with GODEBUG=gcshrinkstack=pause, never with gcshrinkstackoff=1; what
// their live frames hold survives, and they can recurse that deep again.
#include <sys/mman.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "gc/roots.hpp"
#include "gort/gort.hpp"
#include "stack/space.hpp"
#include "support.hpp"

namespace gc = gort::gc;

namespace {

constexpr int kGoroutines = 1000;
constexpr int kDepthKiB = 64;
constexpr int64_t kDeepBytes = int64_t(kGoroutines) * kDepthKiB * 1024;

// One KiB of frame per level; the addition after the call keeps it from
// being a tail call, so every level's frame is live at the bottom.
__attribute__((noinline)) int64_t recurse(int depth) {
  volatile char frame[1024];
  for (size_t i = 0; i < sizeof frame; i += 64) frame[i] = char(depth);
  if (depth == 0) return frame[0];
  return recurse(depth - 1) + frame[512];
}

constexpr int64_t kRecurseSum = int64_t(kDepthKiB) * (kDepthKiB + 1) / 2;

// Resident bytes of the stack slots holding these addresses, asked of the
// kernel page by page: RSS would also count what the sanitizers keep
// beside each page (TSan's shadow is not given back with the page).
long long resident_stack_bytes(const std::vector<uintptr_t>& in_stacks) {
  long long bytes = 0;
  std::vector<unsigned char> pages;
  for (const uintptr_t at : in_stacks) {
    gort::stack::Stack slot;
    if (!gort::stack::Space::get().find_slot(at, &slot)) continue;
    pages.resize(slot.size() / gort::stack::kPageSize);
    if (mincore(reinterpret_cast<void*>(slot.lo), slot.size(), pages.data()) != 0) continue;
    for (const unsigned char p : pages) bytes += (p & 1) ? static_cast<long long>(gort::stack::kPageSize) : 0;
  }
  return bytes;
}

struct Figures {
  long long dropped = 0;  // stack bytes the first collection gave back
  unsigned long long beside_program = 0, in_pause = 0, again = 0;
  int wrong = 0;
};

Figures run_shrink_child(const std::map<std::string, std::string>& env) {
  const auto r = gort_test::run_child("stack shrink child", env);
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  Figures f;
  const auto at = r.out.find("dropped=");
  REQUIRE(at != std::string::npos);
  REQUIRE(std::sscanf(r.out.c_str() + at, "dropped=%lld beside=%llu pause=%llu again=%llu wrong=%d", &f.dropped,
                      &f.beside_program, &f.in_pause, &f.again, &f.wrong) == 5);
  return f;
}

}  // namespace

TEST_CASE("stack shrink child", "[.child]") {
  if (!gort_test::in_child()) return;
  const Figures f = gort::run([] {
    auto gate = gort::make_chan<int>();
    gort::WaitGroup parked, finished;
    parked.add(kGoroutines);
    finished.add(kGoroutines);
    std::atomic<int> wrong{0};
    std::vector<uintptr_t> in_stacks(kGoroutines);
    for (int i = 0; i < kGoroutines; ++i)
      gort::go([&, i] {
        if (recurse(kDepthKiB) != kRecurseSum) wrong.fetch_add(1);
        // Live above the stack pointer while parked: must come back intact.
        volatile uint64_t kept[64];
        for (auto& w : kept) w = uint64_t(i) * 0x9e3779b97f4a7c15ull;
        in_stacks[size_t(i)] = reinterpret_cast<uintptr_t>(&kept[0]);
        parked.done();
        gate.recv();
        for (auto& w : kept)
          if (w != uint64_t(i) * 0x9e3779b97f4a7c15ull) wrong.fetch_add(1);
        if (recurse(kDepthKiB) != kRecurseSum) wrong.fetch_add(1);
        finished.done();
      });
    parked.wait();
    gort::sleep(std::chrono::milliseconds(20));  // the last ones reach gate.recv()
    const long long before = resident_stack_bytes(in_stacks);
    gc::collect();
    const long long after = resident_stack_bytes(in_stacks);
    const gc::StackShrinks first = gc::stack_shrinks();
    // Nothing ran since: the second scan finds nothing new to give back.
    gc::collect();
    const gc::StackShrinks second = gc::stack_shrinks();
    gate.close();
    finished.wait();
    Figures out;
    out.dropped = before - after;
    out.beside_program = first.beside_program;
    out.in_pause = first.in_pause;
    out.again = (second.beside_program - first.beside_program) + (second.in_pause - first.in_pause);
    out.wrong = wrong.load();
    return out;
  });
  std::printf("dropped=%lld beside=%llu pause=%llu again=%llu wrong=%d\n", f.dropped, f.beside_program, f.in_pause,
              f.again, f.wrong);
}

TEST_CASE("parked goroutines give back deep stack pages beside the program", "[shrink]") {
  for (const int procs : gort_test::kProcCounts) {
    const Figures f = run_shrink_child({{"GOMAXPROCS", std::to_string(procs)}, {"GORTGCSTRESS", "0"}});
    INFO("GOMAXPROCS=" << procs << " dropped " << f.dropped << " of " << kDeepBytes);
    CHECK(f.wrong == 0);
    CHECK(f.beside_program >= kGoroutines * 9 / 10);
    CHECK(f.in_pause == 0);
    CHECK(f.again == 0);
    CHECK(f.dropped >= kDeepBytes * 7 / 10);
  }
}

TEST_CASE("GODEBUG=gcshrinkstack=pause shrinks in mark termination", "[shrink]") {
  const Figures f = run_shrink_child({{"GODEBUG", "gcshrinkstack=pause"}, {"GORTGCSTRESS", "0"}});
  INFO("dropped " << f.dropped << " of " << kDeepBytes);
  CHECK(f.wrong == 0);
  CHECK(f.beside_program == 0);
  CHECK(f.in_pause >= kGoroutines * 9 / 10);
  CHECK(f.again == 0);
  CHECK(f.dropped >= kDeepBytes * 7 / 10);
}

TEST_CASE("GODEBUG=gcshrinkstackoff=1 keeps the pages", "[shrink]") {
  const Figures f = run_shrink_child({{"GODEBUG", "gcshrinkstackoff=1"}, {"GORTGCSTRESS", "0"}});
  INFO("dropped " << f.dropped << " of " << kDeepBytes);
  CHECK(f.wrong == 0);
  CHECK(f.beside_program == 0);
  CHECK(f.in_pause == 0);
  CHECK(f.dropped < kDeepBytes / 10);
}

TEST_CASE("stack shrink knob child", "[.child]") {
  if (!gort_test::in_child()) return;
  gort::run([] { gc::collect(); });
}

TEST_CASE("the stack-shrinking knobs take Go's values and reject others", "[shrink]") {
  for (const char* good : {"gcshrinkstackoff=0", "gcshrinkstackoff=1", "gcshrinkstack=pause", "gcshrinkstack=concurrent"}) {
    const auto r = gort_test::run_child("stack shrink knob child", {{"GODEBUG", good}});
    INFO(good << "\n" << r.err);
    CHECK(r.exit_status == 0);
  }
  const auto bad_off = gort_test::run_child("stack shrink knob child", {{"GODEBUG", "gcshrinkstackoff=yes"}});
  CHECK(bad_off.exit_status != 0);
  CHECK(bad_off.err.find("fatal error: malformed GODEBUG=\"gcshrinkstackoff=yes\": want 0 or 1") != std::string::npos);
  const auto bad_where = gort_test::run_child("stack shrink knob child", {{"GODEBUG", "gcshrinkstack=stw"}});
  CHECK(bad_where.exit_status != 0);
  CHECK(bad_where.err.find("fatal error: malformed GODEBUG=\"gcshrinkstack=stw\": want gcshrinkstack=pause or "
                           "gcshrinkstack=concurrent") != std::string::npos);
}
