// The execution trace: a workload of channels, sleeps, blocking calls,
// locks and collections is traced at 2, 4 and 8 Ps, and the JSON written is
// parsed (strictly, by the small parser below) and checked: well-formed
// events, balanced slices and ordered timestamps on every track, one
// goroutine at a time on a P, every goroutine created before it runs, the
// exact number of creations, sleeps and blocking calls the workload made,
// and the collector's cycles with their stop-the-world pauses, mark, and
// the passes of the sweep that follows beside the program.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gort/gort.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;

// ---- a strict JSON parser (RFC 8259; no extensions) ----

struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Json> array;
  std::vector<std::pair<std::string, Json>> object;

  const Json* get(const std::string& key) const {
    for (const auto& [k, v] : object)
      if (k == key) return &v;
    return nullptr;
  }
  bool has(const std::string& key, Kind k) const {
    const Json* v = get(key);
    return v && v->kind == k;
  }
  double num(const std::string& key) const { return get(key)->number; }
  const std::string& str(const std::string& key) const { return get(key)->string; }
};

class Parser {
 public:
  explicit Parser(const std::string& text) : s_(text) {}

  // False if text is not exactly one JSON value (whitespace around it).
  bool parse(Json* out) {
    skip();
    if (!value(out, 0)) return false;
    skip();
    return i_ == s_.size();
  }

 private:
  void skip() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(i_, w.size(), w) != 0) return false;
    i_ += w.size();
    return true;
  }
  bool value(Json* out, int depth) {
    if (depth > 64 || i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') return object(out, depth);
    if (c == '[') return array(out, depth);
    if (c == '"') {
      out->kind = Json::kString;
      return string(&out->string);
    }
    if (c == 't' || c == 'f') {
      out->kind = Json::kBool;
      out->boolean = c == 't';
      return literal(c == 't' ? "true" : "false");
    }
    if (c == 'n') return literal("null");
    return number(out);
  }
  bool digits() {
    const size_t start = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ > start;
  }
  bool number(Json* out) {
    const size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') ++i_;
    else if (!digits()) return false;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) return false;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) return false;
    }
    out->kind = Json::kNumber;
    out->number = std::stod(s_.substr(start, i_ - start));
    return true;
  }
  bool string(std::string* out) {
    ++i_;  // the opening quote
    while (i_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') {
        out->push_back(char(c));
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      static const std::string kSimple = "\"\\/bfnrt";
      if (kSimple.find(e) != std::string::npos) {
        out->push_back(e);
      } else if (e == 'u') {
        if (i_ + 4 > s_.size()) return false;
        for (int k = 0; k < 4; ++k)
          if (!isxdigit(static_cast<unsigned char>(s_[i_ + size_t(k)]))) return false;
        out->push_back('?');
        i_ += 4;
      } else {
        return false;
      }
    }
    return false;
  }
  bool array(Json* out, int depth) {
    out->kind = Json::kArray;
    ++i_;
    skip();
    if (i_ < s_.size() && s_[i_] == ']') {
      ++i_;
      return true;
    }
    for (;;) {
      out->array.emplace_back();
      skip();
      if (!value(&out->array.back(), depth + 1)) return false;
      skip();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == ']') {
        ++i_;
        return true;
      }
      if (s_[i_++] != ',') return false;
    }
  }
  bool object(Json* out, int depth) {
    out->kind = Json::kObject;
    ++i_;
    skip();
    if (i_ < s_.size() && s_[i_] == '}') {
      ++i_;
      return true;
    }
    for (;;) {
      skip();
      if (i_ >= s_.size() || s_[i_] != '"') return false;
      std::string key;
      if (!string(&key)) return false;
      skip();
      if (i_ >= s_.size() || s_[i_++] != ':') return false;
      skip();
      out->object.emplace_back(key, Json{});
      if (!value(&out->object.back().second, depth + 1)) return false;
      skip();
      if (i_ >= s_.size()) return false;
      if (s_[i_] == '}') {
        ++i_;
        return true;
      }
      if (s_[i_++] != ',') return false;
    }
  }

  const std::string& s_;
  size_t i_ = 0;
};

TEST_CASE("the test's JSON parser is strict", "[trace]") {
  Json v;
  for (const char* good : {"{}", "[]", " {\"a\":[1,-2.5e3,true,false,null,\"x\\\"y\\u0041\"]} ", "0", "\"\""}) {
    INFO(good);
    REQUIRE(Parser(good).parse(&v));
  }
  for (const char* bad : {"{", "[1,]", "{\"a\":1,}", "01", "1.", "\"a", "{a:1}", "[1] x", "'a'", "\"\t\"", "+1"}) {
    INFO(bad);
    Json w;
    REQUIRE_FALSE(Parser(bad).parse(&w));
  }
}

// ---- the workload ----

struct Made {
  int goroutines = 0;  // besides main
  int sleeps = 0;
  int blocking_calls = 0;
  int collections = 0;
};

struct Node {
  gort::gc::ref<Node> next;
  int value = 0;
  void trace(gort::gc::Visitor& v) const { v(next); }
};

// Everything a trace should show, in counts the workload keeps itself.
Made run_workload() {
  Made made;
  gort::WaitGroup wg;
  auto spawn = [&](auto f) {
    ++made.goroutines;
    wg.add(1);
    gort::go([&wg, f] {
      f();
      wg.done();
    });
  };

  // Hand-offs over unbuffered channels, and a buffered pipeline.
  auto ping = gort::make_chan<int>();
  auto pong = gort::make_chan<int>();
  spawn([=] {
    for (int i = 0; i < 300; ++i) pong.send(ping.recv() + 1);
  });
  auto items = gort::make_chan<int>(4);
  std::atomic<int> consumed{0};
  for (int c = 0; c < 4; ++c)
    spawn([items, &consumed] {
      while (items.recv_ok().second) consumed.fetch_add(1);
    });
  spawn([items] {
    for (int i = 0; i < 400; ++i) items.send(i);
    items.close();
  });

  // Sleepers, blocking calls (one long enough for sysmon to take its P),
  // a contended mutex, and many short goroutines to steal.
  for (int s = 0; s < 8; ++s) {
    made.sleeps += 2;
    spawn([] {
      gort::sleep(1ms);
      gort::sleep(2ms);
    });
  }
  for (int b = 0; b < 4; ++b) {
    ++made.blocking_calls;
    spawn([b] { gort::blocking([b] { usleep(b == 0 ? 30000 : 2000); }); });
  }
  gort::Mutex mu;
  int shared = 0;
  for (int k = 0; k < 4; ++k)
    spawn([&mu, &shared] {
      for (int i = 0; i < 200; ++i) {
        std::lock_guard<gort::Mutex> l(mu);
        ++shared;
        if (i % 16 == 0) gort::yield();
      }
    });
  for (int k = 0; k < 200; ++k) spawn([] {});

  // Blocked for good on nil channels and in a select of nil channels: the
  // trace must show each reason (they end with the runtime).
  gort::chan<int> nil;
  ++made.goroutines;
  gort::go([nil] { nil.send(1); });
  ++made.goroutines;
  gort::go([nil] { (void)nil.recv(); });
  ++made.goroutines;
  gort::go([nil] { gort::select(gort::recv(nil), gort::recv(nil)); });

  for (int i = 0; i < 300; ++i) {
    ping.send(i);
    REQUIRE(pong.recv() == i + 1);
  }
  for (int c = 0; c < 3; ++c) {
    gort::gc::root<Node> keep(gort::gc::make<Node>());
    for (int i = 0; i < 1000; ++i) gort::gc::make<Node>()->value = i;
    gort::gc::collect();
    ++made.collections;
  }
  wg.wait();
  REQUIRE(consumed.load() == 400);
  REQUIRE(shared == 800);
  return made;
}

// ---- reading a trace ----

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string temp_path(const char* what) {
  return "/tmp/gort_test_trace_" + std::to_string(getpid()) + "_" + what + ".json";
}

struct Seen {
  std::map<std::string, int> begins;  // slice name -> count (G slices as "G")
  std::map<std::string, int> ends;    // args.end -> count
  std::map<std::string, int> instants;
  int counters = 0;
  std::set<double> goroutines_run;  // the program's: not the runtime's own
  double unmatched_ends = -1;
};

// How the traced program ran: the checks of goroutines differ.
enum class Span {
  kOneRun,       // tracing began before gort::run: every goroutine created in the trace
  kInsideRun,    // began in a goroutine: those that existed are reported by GoStatus
  kSeveralRuns,  // goroutine ids start again with each run
};

// Checks what holds for every trace and counts what the tests compare.
Seen check_trace(const std::string& text, Span span) {
  Json doc;
  REQUIRE(Parser(text).parse(&doc));
  REQUIRE(doc.kind == Json::kObject);
  REQUIRE(doc.has("traceEvents", Json::kArray));
  REQUIRE(doc.has("otherData", Json::kObject));
  Seen seen;
  seen.unmatched_ends = doc.get("otherData")->num("unmatched_ends");

  struct Track {
    double last_ts = -1;
    std::vector<std::string> open;
  };
  std::map<std::pair<int, int>, Track> tracks;
  std::map<double, double> created_at;      // goroutine -> ts of GoCreate / GoStatus
  std::set<double> runtime_goroutines;      // a sweeper, a mark worker
  std::map<double, double> first_start_at;  // goroutine -> ts of its first run
  std::map<double, std::vector<double>> flow_starts, flow_ends;
  std::set<std::string> named_tracks;
  static const std::set<std::string> kPhases = {"B", "E", "i", "C", "s", "f", "M"};

  for (const Json& e : doc.get("traceEvents")->array) {
    REQUIRE(e.kind == Json::kObject);
    REQUIRE(e.has("ph", Json::kString));
    const std::string ph = e.str("ph");
    REQUIRE(kPhases.count(ph) == 1);
    REQUIRE(e.has("pid", Json::kNumber));
    REQUIRE(e.has("tid", Json::kNumber));
    const int pid = int(e.num("pid")), tid = int(e.num("tid"));
    REQUIRE((pid >= 1 && pid <= 4));
    if (ph == "M") {
      REQUIRE(e.has("name", Json::kString));
      REQUIRE(e.has("args", Json::kObject));
      if (e.str("name") == "thread_name") named_tracks.insert(std::to_string(pid) + "/" + std::to_string(tid));
      continue;
    }
    REQUIRE(named_tracks.count(std::to_string(pid) + "/" + std::to_string(tid)) == 1);
    REQUIRE(e.has("ts", Json::kNumber));
    const double ts = e.num("ts");
    REQUIRE(ts >= 0);
    Track& t = tracks[{pid, tid}];
    INFO("pid " << pid << " tid " << tid << " ph " << ph << " ts " << ts);
    REQUIRE(ts >= t.last_ts);  // monotone per track
    t.last_ts = ts;
    if (ph != "E") REQUIRE(e.has("name", Json::kString));
    const Json* args = e.get("args");
    if (ph == "B") {
      std::string name = e.str("name");
      if (pid == 1) {
        // A P runs one goroutine at a time: its slices never nest.
        REQUIRE(name[0] == 'G');
        REQUIRE(t.open.empty());
        const double g = args->num("g");
        REQUIRE(name == "G" + std::to_string(int64_t(g)));
        seen.goroutines_run.insert(g);
        if (!first_start_at.count(g)) first_start_at[g] = ts;
        name = "G";
      }
      t.open.push_back(name);
      ++seen.begins[name];
      if (pid == 3 && name == "mark") {
        // Inside a cycle, beside the program: between its two pauses.
        REQUIRE(std::find(t.open.begin(), t.open.end(), "stop the world") == t.open.end());
        REQUIRE(std::find(t.open.begin(), t.open.end(), "GC") != t.open.end());
      }
    } else if (ph == "E") {
      REQUIRE_FALSE(t.open.empty());  // balanced per track
      if (pid == 1) {
        REQUIRE(args->has("end", Json::kString));
        const std::string end = args->str("end");
        ++seen.ends[end];
        if (end.rfind("GoBlock", 0) == 0 || end == "GoSleep") REQUIRE(args->has("reason", Json::kString));
      }
      t.open.pop_back();
    } else if (ph == "i") {
      const std::string name = e.str("name");
      ++seen.instants[name];
      if (name == "GoUnblock") REQUIRE((args->has("g", Json::kNumber) && args->has("by", Json::kNumber)));
      if (name == "GoCreate (runtime)") runtime_goroutines.insert(args->num("g"));
      if ((name == "GoCreate" || name == "GoCreate (runtime)" || name == "GoStatus") && span != Span::kSeveralRuns) {
        const double g = args->num("g");
        REQUIRE(created_at.count(g) == 0);  // one creation per goroutine
        created_at[g] = ts;
      }
    } else if (ph == "C") {
      ++seen.counters;
      REQUIRE(args->has("allocated", Json::kNumber));
      REQUIRE(args->has("goal", Json::kNumber));
    } else if (ph == "s") {
      flow_starts[e.num("id")].push_back(ts);
    } else if (ph == "f") {
      REQUIRE(e.str("bp") == "e");
      flow_ends[e.num("id")].push_back(ts);
    }
  }
  // Slices still open end with the trace: the writer closes them.
  for (const auto& [key, t] : tracks) REQUIRE(t.open.empty());
  // Every goroutine that ran was created (or, for a trace started late,
  // reported as existing) no later than its first start.
  if (span == Span::kSeveralRuns) return seen;
  for (const double g : runtime_goroutines) seen.goroutines_run.erase(g);
  for (const auto& [g, start] : first_start_at) {
    INFO("goroutine " << g);
    REQUIRE(created_at.count(g) == 1);
    REQUIRE(created_at[g] <= start);
  }
  // Each arrow's end has its start: in time, the k-th end of an id comes
  // no earlier than its k-th start.
  for (auto& [id, ends] : flow_ends) {
    auto& starts = flow_starts[id];
    std::sort(starts.begin(), starts.end());
    std::sort(ends.begin(), ends.end());
    REQUIRE(starts.size() >= ends.size());
    for (size_t k = 0; k < ends.size(); ++k) REQUIRE(starts[k] <= ends[k]);
  }
  return seen;
}

}  // namespace

TEST_CASE("a trace of a whole run is well formed and counts what happened", "[trace]") {
  for (int procs : gort_test::kProcCounts) {
    INFO("GOMAXPROCS " << procs);
    const std::string path = temp_path("run");
    REQUIRE(gort::trace::start(path.c_str()));
    REQUIRE(gort::trace::active());
    REQUIRE_FALSE(gort::trace::start(path.c_str()));  // one at a time
    Made made;
    gort::run([&made] { made = run_workload(); }, gort_test::procs(procs));
    REQUIRE(gort::trace::stop());
    REQUIRE_FALSE(gort::trace::active());
    REQUIRE_FALSE(gort::trace::stop());
    const std::string text = slurp(path);
    std::remove(path.c_str());

    const Seen seen = check_trace(text, Span::kOneRun);
    // Started before the run: every slice that ends began in the trace.
    REQUIRE(seen.unmatched_ends == 0);
    REQUIRE(seen.instants.at("GoCreate") == made.goroutines + 1);  // and main
    REQUIRE(int(seen.goroutines_run.size()) == made.goroutines + 1);
    REQUIRE(seen.ends.at("GoSleep") == made.sleeps);
    REQUIRE(seen.begins.at("blocking call") == made.blocking_calls);
    REQUIRE(seen.ends.at("GoSysCall") == made.blocking_calls);
    REQUIRE(seen.ends.at("GoBlockSend") >= 1);
    REQUIRE(seen.ends.at("GoBlockRecv") >= 1);
    REQUIRE(seen.ends.at("GoBlockSelect") >= 1);
    REQUIRE(seen.ends.at("GoEnd") >= made.goroutines - 3);  // all but the three blocked for good
    REQUIRE(seen.instants.at("GoUnblock") >= 1);
    REQUIRE(seen.begins.at("GC") >= made.collections);
    // Two pauses a cycle: sweep termination and mark termination.
    REQUIRE(seen.begins.at("stop the world") == 2 * seen.begins.at("GC"));
    REQUIRE(seen.begins.at("mark") == seen.begins.at("GC"));
    // Sweeping runs beside the program: every gc::collect ends its pass.
    REQUIRE(seen.instants.at("swept") >= made.collections);
    REQUIRE(seen.instants.at("world stopped") == 2 * seen.begins.at("GC"));
    REQUIRE(seen.counters == 2 * seen.begins.at("GC"));
    REQUIRE(seen.instants.at("ProcStart") >= 1);
    // An M sits idle now and then, holding a P in between.
    int p_slices = 0;
    for (const auto& [name, n] : seen.begins)
      if (name[0] == 'P') p_slices += n;
    REQUIRE(p_slices >= 1);
    REQUIRE(seen.begins.at("idle") >= 1);
  }
}

TEST_CASE("a trace started and stopped inside a run", "[trace]") {
  for (int procs : gort_test::kProcCounts) {
    INFO("GOMAXPROCS " << procs);
    const std::string path = temp_path("inside");
    std::FILE* out = std::fopen(path.c_str(), "w");
    REQUIRE(out);
    uint64_t main_id = 0;
    Made made;
    bool started = false, stopped = false;
    gort::run(
        [&] {
          main_id = gort::goid();
          started = gort::trace::start(out);
          made = run_workload();
          stopped = gort::trace::stop();
        },
        gort_test::procs(procs));
    REQUIRE(started);
    REQUIRE(stopped);
    std::fclose(out);
    const std::string text = slurp(path);
    std::remove(path.c_str());

    const Seen seen = check_trace(text, Span::kInsideRun);
    // Main existed before the trace: reported by GoStatus, and shown
    // running from the start.
    REQUIRE(seen.instants.at("GoStatus") >= 1);
    REQUIRE(seen.goroutines_run.count(double(main_id)) == 1);
    REQUIRE(seen.instants.at("GoCreate") == made.goroutines);
    REQUIRE(seen.ends.at("GoSleep") == made.sleeps);
    REQUIRE(seen.begins.at("blocking call") == made.blocking_calls);
    REQUIRE(seen.begins.at("GC") >= made.collections);
  }
}

TEST_CASE("trace child", "[.child]") {
  if (!gort_test::in_child()) return;
  for (int run = 0; run < 2; ++run)
    gort::run([] {
      auto c = gort::make_chan<int>();
      gort::go([c] { c.send(1); });
      (void)c.recv();
      gort::gc::collect();
    });
  std::printf("done\n");
}

TEST_CASE("GORTTRACE writes the process's trace at exit", "[trace][knobs]") {
  const std::string path = temp_path("knob");
  auto r = gort_test::run_child("trace child", {{"GORTTRACE", path}});
  INFO(r.err);
  REQUIRE(r.exit_status == 0);
  REQUIRE(r.out.find("done\n") != std::string::npos);
  const Seen seen = check_trace(slurp(path), Span::kSeveralRuns);
  std::remove(path.c_str());
  REQUIRE(seen.unmatched_ends == 0);
  REQUIRE(seen.instants.at("GoCreate") == 4);  // both runs: main and one more
  REQUIRE(seen.begins.at("GC") >= 2);

  // A file that cannot be created is the knob's one bad value.
  r = gort_test::run_child("trace child", {{"GORTTRACE", "/nonexistent-dir/trace.json"}});
  REQUIRE(r.exit_status == 2);
  REQUIRE(r.err.find("fatal error: GORTTRACE=\"/nonexistent-dir/trace.json\": cannot create the file") !=
          std::string::npos);
  REQUIRE(r.out.find("done") == std::string::npos);
}
