#include "gc/gctrace.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>

#include "runtime/internal/nanotime.hpp"

namespace gort::gc {

namespace {

// The start of the clock gctrace's @ field counts from: the first use of
// the collector, close enough to the runtime's start (Go: runtimeInitTime).
const int64_t start_ns = internal::nanotime();
std::atomic<int64_t> total_gc_cpu_ns{0};

// val with a decimal point dec digits from the right, as Go's itoaDiv:
// (56, 3) is "0.056", (12, 1) "1.2", (7, 0) "7".
const char* decimal(char* buf, size_t size, uint64_t val, int dec) {
  char* p = buf + size - 1;
  *p = '\0';
  int digits = 0;
  do {
    if (dec > 0 && digits == dec) *--p = '.';
    *--p = char('0' + val % 10);
    val /= 10;
    ++digits;
  } while (val != 0 || digits <= dec);
  return p;
}

// Go's fmtNSAsMS: whole milliseconds from 10 ms up; below that two
// significant digits, at most three decimals.
const char* ms(char* buf, size_t size, int64_t ns) {
  const uint64_t n = ns < 0 ? 0 : uint64_t(ns);
  if (n >= 10'000'000) return decimal(buf, size, n / 1'000'000, 0);
  uint64_t us = n / 1000;
  int dec = 3;
  while (us >= 100) {
    us /= 10;
    --dec;
  }
  return decimal(buf, size, us, us == 0 ? 0 : dec);
}

// A stopped world holds every P.
int64_t sweep_term_cpu_ns(const CycleTrace& t) { return t.procs * (t.mark_start - t.sweep_term_start); }

int64_t mark_term_cpu_ns(const CycleTrace& t) { return t.procs * (t.end - t.mark_term_start); }

}  // namespace

int64_t cycle_cpu_ns(const CycleTrace& t) {
  return sweep_term_cpu_ns(t) + t.assist_ns + t.worker_ns + mark_term_cpu_ns(t);
}

size_t format_gctrace(const CycleTrace& t, int64_t since_start_ns, int cpu_percent, char* buf, size_t size) {
  char at[24], c1[24], c2[24], c3[24], u1[24], ua[24], uw[24], ui[24], u3[24];
  constexpr size_t kMiB = size_t(1) << 20;
  const int n = std::snprintf(
      buf, size,
      "gc %" PRIu64 " @%ss %d%%: %s+%s+%s ms clock, %s+%s/%s/%s+%s ms cpu, %zu->%zu->%zu MB, %zu MB goal, "
      "%zu MB stacks, %zu MB globals, %d P%s\n",
      t.number, decimal(at, sizeof at, uint64_t(since_start_ns < 0 ? 0 : since_start_ns) / 1'000'000, 3), cpu_percent,
      ms(c1, sizeof c1, t.mark_start - t.sweep_term_start), ms(c2, sizeof c2, t.mark_term_start - t.mark_start),
      ms(c3, sizeof c3, t.end - t.mark_term_start), ms(u1, sizeof u1, sweep_term_cpu_ns(t)),
      ms(ua, sizeof ua, t.assist_ns), ms(uw, sizeof uw, t.worker_ns), ms(ui, sizeof ui, t.idle_ns),
      ms(u3, sizeof u3, mark_term_cpu_ns(t)),
      t.heap_start / kMiB,
      t.heap_marked_end / kMiB, t.heap_live / kMiB, t.heap_goal / kMiB, t.stack_bytes / kMiB, t.global_bytes / kMiB,
      t.procs, t.forced ? " (forced)" : "");
  return n < 0 ? 0 : std::min(size_t(n), size - 1);
}

void print_gctrace(const CycleTrace& t) {
  const int64_t cpu = cycle_cpu_ns(t);
  const int64_t total = total_gc_cpu_ns.fetch_add(cpu, std::memory_order_relaxed) + cpu;
  const int64_t available = int64_t(t.procs) * (t.end - start_ns);
  const int percent = available > 0 ? int(total * 100 / available) : 0;
  char line[256];
  const size_t len = format_gctrace(t, t.sweep_term_start - start_ns, percent, line, sizeof line);
  // One write: lines from a program's own threads never split it.
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, line, len);
}

}  // namespace gort::gc
