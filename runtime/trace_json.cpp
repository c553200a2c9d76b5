// Encoding the recorded events as Chrome trace-event JSON: one track per
// P (pid 1), per M (pid 2), the collector (pid 3) and the rest (pid 4);
// durations as B/E pairs, moments as instants, the heap as a counter, and
// a wake-up as a flow arrow (s/f) from where it happened to where the woken
// goroutine next ran.
#include "runtime/trace_json.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <string_view>
#include <tuple>
#include <vector>

namespace gort::trace {

namespace {

using sched::trace::Chunk;
using sched::trace::Ev;
using sched::trace::Event;
namespace pid = sched::trace;

// Go's name for what a goroutine blocked on (its traceEvGoBlock* events),
// from the wait reason the scheduler parked it with.
const char* go_block_event(std::string_view reason) {
  auto starts = [&](std::string_view prefix) { return reason.substr(0, prefix.size()) == prefix; };
  if (starts("chan send")) return "GoBlockSend";
  if (starts("chan receive")) return "GoBlockRecv";
  if (starts("select")) return "GoBlockSelect";
  if (starts("sleep")) return "GoSleep";
  if (starts("sync.Cond")) return "GoBlockCond";
  if (starts("sync.")) return "GoBlockSync";
  if (starts("IO wait")) return "GoBlockNet";
  return "GoBlock";
}

const char* str(uint64_t static_string) { return reinterpret_cast<const char*>(uintptr_t(static_string)); }

class Writer {
 public:
  Writer(std::FILE* out, sched::trace::Clock clock) : out_(out), clock_(clock) {}

  // Starts an event object: separator, phase, time (in cputicks) and track.
  void head(const char* ph, int64_t ticks, unsigned pid, unsigned tid) {
    const int64_t rel = std::max<int64_t>(0, int64_t(double(ticks - clock_.start_ticks) * clock_.ns_per_tick));
    std::fprintf(out_, "%s\n{\"ph\":\"%s\",\"ts\":%lld.%03lld,\"pid\":%u,\"tid\":%u", first_ ? "" : ",", ph,
                 (long long)(rel / 1000), (long long)(rel % 1000), pid, tid);
    first_ = false;
  }
  void raw(const char* text) { std::fputs(text, out_); }
  void string(const char* s) {
    std::fputc('"', out_);
    for (; *s; ++s) {
      const unsigned char c = static_cast<unsigned char>(*s);
      if (c == '"' || c == '\\') std::fprintf(out_, "\\%c", c);
      else if (c < 0x20) std::fprintf(out_, "\\u%04x", c);
      else std::fputc(c, out_);
    }
    std::fputc('"', out_);
  }
  void named(const char* key, const char* value) {
    std::fprintf(out_, ",\"%s\":", key);
    string(value);
  }
  void number(const char* key, uint64_t v) { std::fprintf(out_, ",\"%s\":%llu", key, (unsigned long long)v); }
  void metadata(const char* what, unsigned pid, unsigned tid, const char* key, const char* name, long index) {
    std::fprintf(out_, "%s\n{\"ph\":\"M\",\"name\":\"%s\",\"pid\":%u,\"tid\":%u,\"args\":{\"%s\":", first_ ? "" : ",",
                 what, pid, tid, key);
    if (name) string(name);
    else std::fprintf(out_, "%ld", index);
    raw("}}");
    first_ = false;
  }
  std::FILE* file() { return out_; }

 private:
  std::FILE* out_;
  sched::trace::Clock clock_;
  bool first_ = true;
};

// Closes an event with its numeric arguments.
void args(Writer& w, std::initializer_list<std::pair<const char*, uint64_t>> kv) {
  w.raw(",\"args\":{");
  const char* sep = "";
  for (const auto& [key, v] : kv) {
    std::fprintf(w.file(), "%s\"%s\":%llu", sep, key, (unsigned long long)v);
    sep = ",";
  }
  w.raw("}}");
}

// Closes an event with one string argument, and a second if given.
void strings(Writer& w, const char* key, const char* value, const char* key2 = nullptr, const char* value2 = nullptr) {
  std::fprintf(w.file(), ",\"args\":{\"%s\":", key);
  w.string(value);
  if (key2) w.named(key2, value2);
  w.raw("}}");
}

bool is_end(Ev kind) {
  switch (kind) {
    case Ev::kGoBlock:
    case Ev::kGoSched:
    case Ev::kGoPreempt:
    case Ev::kGoEnd:
    case Ev::kGoSysCall:
    case Ev::kMProcEnd:
    case Ev::kMSysEnd:
    case Ev::kMIdleEnd:
    case Ev::kGcEnd:
    case Ev::kStwEnd:
    case Ev::kMarkEnd:
      return true;
    default:
      return false;
  }
}

// One event of a track; depth: the slices open on it, which a begin raises
// and an end lowers. False: an end with nothing open, left out.
bool put(Writer& w, const Event& e, int* depth) {
  const unsigned pid = e.pid, tid = e.tid;
  char name[32];
  auto begin = [&](const char* slice) {
    w.head("B", e.ts, pid, tid);
    w.named("name", slice);
    ++*depth;
  };
  auto instant = [&](const char* what) {
    w.head("i", e.ts, pid, tid);
    w.named("name", what);
    w.raw(",\"s\":\"t\"");
  };
  auto flow = [&](const char* ph, const char* extra) {
    w.head(ph, e.ts, pid, tid);
    std::fprintf(w.file(), "%s,\"name\":\"unblock\",\"cat\":\"unblock\",\"id\":%llu}", extra, (unsigned long long)e.a);
  };
  if (is_end(e.kind)) {
    if (*depth == 0) return false;
    --*depth;
    w.head("E", e.ts, pid, tid);
  }
  switch (e.kind) {
    case Ev::kGoCreate:
      instant(e.b & sched::trace::kRuntimeGoroutine ? "GoCreate (runtime)" : "GoCreate");
      args(w, {{"g", e.a}, {"parent", e.b & ~sched::trace::kRuntimeGoroutine}});
      break;
    case Ev::kGoStart:
      std::snprintf(name, sizeof name, "G%llu", (unsigned long long)e.a);
      begin(name);
      args(w, {{"g", e.a}});
      if (e.b) flow("f", ",\"bp\":\"e\"");
      break;
    case Ev::kGoBlock:
      strings(w, "end", go_block_event(str(e.b)), "reason", str(e.b));
      break;
    case Ev::kGoSched:
      strings(w, "end", "GoSched");
      break;
    case Ev::kGoPreempt:
      strings(w, "end", "GoPreempt");
      break;
    case Ev::kGoEnd:
      strings(w, "end", "GoEnd");
      break;
    case Ev::kGoSysCall:
      strings(w, "end", "GoSysCall");
      break;
    case Ev::kGoUnblock:
      instant("GoUnblock");
      args(w, {{"g", e.a}, {"by", e.b}});
      flow("s", "");
      break;
    case Ev::kSteal:
      instant("steal");
      args(w, {{"g", e.a}, {"victim", e.b}});
      break;
    case Ev::kProcStart:
    case Ev::kProcStop:
      instant(e.kind == Ev::kProcStart ? "ProcStart" : "ProcStop");
      args(w, {{"m", e.a}});
      break;
    case Ev::kMProcBegin:
      std::snprintf(name, sizeof name, "P%llu", (unsigned long long)e.a);
      begin(name);
      w.raw("}");
      break;
    case Ev::kMSysBegin:
      begin("blocking call");
      args(w, {{"g", e.a}});
      break;
    case Ev::kMSysEnd:
      strings(w, "kept_p", e.b ? "yes" : "no");
      break;
    case Ev::kMIdleBegin:
      begin("idle");
      w.raw("}");
      break;
    case Ev::kGcBegin:
      begin("GC");
      args(w, {{"cycle", e.a}});
      break;
    case Ev::kStwBegin:
      begin("stop the world");
      strings(w, "reason", str(e.b));
      break;
    case Ev::kStwStopped:
      instant("world stopped");
      args(w, {{"stopping_ns", e.a}, {"stopped_by_signal", e.b}});
      break;
    case Ev::kMarkBegin:
      begin("mark");
      w.raw("}");
      break;
    case Ev::kSwept:
      instant("swept");
      args(w, {{"spans", e.a}, {"freed_objects", e.b}});
      break;
    case Ev::kHeap:
      w.head("C", e.ts, pid, tid);
      w.named("name", "heap");
      args(w, {{"allocated", e.a}, {"goal", e.b}});
      break;
    case Ev::kGoStatus:
      instant("GoStatus");
      std::fprintf(w.file(), ",\"args\":{\"g\":%llu", (unsigned long long)e.a);
      w.named("state", str(e.b));
      w.raw("}}");
      break;
    case Ev::kProcSteal:
      instant("ProcSteal");
      args(w, {{"p", e.a}});
      break;
    case Ev::kMProcEnd:
    case Ev::kMIdleEnd:
    case Ev::kGcEnd:
    case Ev::kStwEnd:
    case Ev::kMarkEnd:
      w.raw("}");
      break;
  }
  return true;
}

void name_tracks(Writer& w, const std::vector<Event>& events) {
  static const char* const kProcess[] = {"", "Ps", "Ms", "collector", "outside the scheduler"};
  for (unsigned pid = 1; pid <= 4; ++pid) {
    w.metadata("process_name", pid, 0, "name", kProcess[pid], 0);
    w.metadata("process_sort_index", pid, 0, "sort_index", nullptr, long(pid));
  }
  char name[32];
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (i > 0 && events[i - 1].pid == e.pid && events[i - 1].tid == e.tid) continue;
    if (e.pid == pid::kPidP) std::snprintf(name, sizeof name, "P%u", unsigned(e.tid));
    else if (e.pid == pid::kPidM) std::snprintf(name, sizeof name, "M%u", unsigned(e.tid));
    else std::snprintf(name, sizeof name, "%s", e.pid == pid::kPidGc ? "GC" : "sysmon and other threads");
    w.metadata("thread_name", e.pid, e.tid, "name", name, 0);
    w.metadata("thread_sort_index", e.pid, e.tid, "sort_index", nullptr, long(e.tid));
  }
}

}  // namespace

bool write_chrome_json(std::FILE* out, const Chunk* chunks, sched::trace::Clock clock) {
  std::vector<Event> events = sched::trace::decode(chunks);
  // An M's events went to more than one buffer (its P's and the global
  // one): its sequence numbers give their order back; the other tracks'
  // events are numbered by their place in their one buffer. Both start
  // again with each gort::run's Ms and Ps, whose times are apart.
  std::sort(events.begin(), events.end(), [](const Event& x, const Event& y) {
    return std::tie(x.pid, x.tid, x.ts, x.seq) < std::tie(y.pid, y.tid, y.ts, y.seq);
  });
  int64_t last = clock.start_ticks;
  for (const Event& e : events) last = std::max(last, e.ts);

  Writer w(out, clock);
  w.raw("{\"traceEvents\":[");
  name_tracks(w, events);
  size_t unmatched_ends = 0, unclosed_begins = 0;
  int depth = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const Event& e = events[i];
    if (!put(w, e, &depth)) ++unmatched_ends;
    const bool track_ends = i + 1 == events.size() || events[i + 1].pid != e.pid || events[i + 1].tid != e.tid;
    if (!track_ends) continue;
    for (; depth > 0; --depth, ++unclosed_begins) {
      w.head("E", last, e.pid, e.tid);
      w.raw(",\"args\":{\"end\":\"trace stopped\"}}");
    }
  }
  std::fprintf(out,
               "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"unmatched_ends\":%zu,\"unclosed_begins\":%zu}}\n",
               unmatched_ends, unclosed_begins);
  return std::fflush(out) == 0 && !std::ferror(out);
}

}  // namespace gort::trace
