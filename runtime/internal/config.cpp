#include "runtime/internal/config.hpp"

#include <cstdlib>
#include <limits>

#include "runtime/internal/fatal.hpp"

namespace gort::internal {

namespace {

[[noreturn]] void malformed(const char* name, std::string_view value, const char* want) {
  fatal("malformed ", name, "=\"", value, "\": want ", want);
}

// Set and not empty: as in Go, `GOGC=` is the same as no GOGC at all.
const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

// GODEBUG is Go's list of name=value settings, comma-separated. As in Go,
// a setting this runtime does not know is skipped (a GODEBUG meant for a
// Go program, or for a later gort, must not stop this one); a known one
// with a bad value is malformed like any other knob.
void parse_godebug(std::string_view list, Knobs* k) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    const std::string_view name = item.substr(0, eq), value = item.substr(eq + 1);
    if (name == "gctrace") {
      long long n = 0;
      if (!parse_int(value, &n) || n < 0 || n > std::numeric_limits<int>::max())
        malformed("GODEBUG", item, "gctrace=N with N >= 0");
      k->gctrace = int(n);
    } else if (name == "gcpacertrace") {
      long long n = 0;
      if (!parse_int(value, &n) || n < 0 || n > std::numeric_limits<int>::max())
        malformed("GODEBUG", item, "gcpacertrace=N with N >= 0");
      k->gcpacertrace = int(n);
    } else if (name == "gcbarrier") {
      if (value == "hybrid") k->gc_barrier_hybrid = true;
      else if (value == "dijkstra") k->gc_barrier_hybrid = false;
      else malformed("GODEBUG", item, "gcbarrier=hybrid or gcbarrier=dijkstra");
    } else if (name == "gcrescan") {
      if (value == "pause") k->gcrescan_pause = true;
      else if (value == "list") k->gcrescan_pause = false;
      else malformed("GODEBUG", item, "gcrescan=pause or gcrescan=list");
    } else if (name == "gcfinalizers") {
      if (value == "pause") k->gcfinalizers_pause = true;
      else if (value == "concurrent") k->gcfinalizers_pause = false;
      else malformed("GODEBUG", item, "gcfinalizers=pause or gcfinalizers=concurrent");
    } else if (name == "gcshrinkstack") {
      if (value == "pause") k->gcshrinkstack_pause = true;
      else if (value == "concurrent") k->gcshrinkstack_pause = false;
      else malformed("GODEBUG", item, "gcshrinkstack=pause or gcshrinkstack=concurrent");
    } else if (name == "gccheckmark" || name == "gcstoptheworld" || name == "gcshrinkstackoff") {
      if (value != "0" && value != "1") malformed("GODEBUG", item, "0 or 1");
      bool Knobs::*flag = name == "gccheckmark"      ? &Knobs::gccheckmark
                          : name == "gcstoptheworld" ? &Knobs::gcstoptheworld
                                                     : &Knobs::gcshrinkstackoff;
      k->*flag = value == "1";
    }
  }
}

Knobs parse() {
  Knobs k;
  if (const char* v = env("GOMAXPROCS")) {
    long long n = 0;
    if (!parse_int(v, &n) || n < 1 || n > 1024) malformed("GOMAXPROCS", v, "an integer in 1..1024");
    k.gomaxprocs = int(n);
  }
  if (const char* v = env("GOGC")) {
    long long n = 0;
    if (std::string_view(v) == "off") k.gogc = -1;
    else if (parse_int(v, &n) && n <= std::numeric_limits<int>::max()) k.gogc = n < 0 ? -1 : int(n);
    else malformed("GOGC", v, "a percentage or \"off\"");
  }
  if (const char* v = env("GOMEMLIMIT")) {
    std::string_view text(v);
    size_t n = 0;
    // Go's units are B, KiB, MiB, GiB; a plain number is bytes too.
    if (text.size() > 1 && text.back() == 'B' && text[text.size() - 2] >= '0' && text[text.size() - 2] <= '9')
      text.remove_suffix(1);
    if (text == "off") k.memory_limit = INT64_MAX;
    else if (parse_size(text, &n)) k.memory_limit = int64_t(n);
    else malformed("GOMEMLIMIT", v, "a size such as 512MiB, 2GiB or 1073741824, or \"off\"");
  }
  if (const char* v = env("GORTMAXSTACK")) {
    size_t n = 0;
    if (!parse_size(v, &n) || n < 16 * 1024) malformed("GORTMAXSTACK", v, "a size of at least 16k, e.g. 256k or 1m");
    k.max_stack = n;
  }
  if (const char* v = env("GORTGCSTRESS")) {
    long long n = 0;
    if (!parse_int(v, &n) || n < 0) malformed("GORTGCSTRESS", v, "a number of allocations (0: off)");
    k.gc_stress = uint64_t(n);
  }
  if (const char* v = env("GORTFORCEGCPERIOD")) {
    long long n = 0;
    if (!parse_int(v, &n) || n <= 0)
      malformed("GORTFORCEGCPERIOD", v, "a positive number of milliseconds (Go's period is 120000)");
    k.force_gc_period_ms = n;
  }
  k.stack_canary = env("GORTSTACKCANARY") != nullptr;
  if (const char* v = env("GORTLOG")) {
    const std::string_view name(v);
    if (name == "debug") k.log_level = LogLevel::kDebug;
    else if (name == "info") k.log_level = LogLevel::kInfo;
    else if (name == "warn") k.log_level = LogLevel::kWarn;
    else if (name == "error") k.log_level = LogLevel::kError;
    else if (name == "off") k.log_level = LogLevel::kOff;
    else malformed("GORTLOG", v, "debug, info, warn, error or off");
  }
  if (const char* v = env("GORTNUMA")) {
    const std::string_view s(v);
    long long n = 0;
    if (s == "off") k.numa = Knobs::Numa::kOff;
    else if (s == "on") k.numa = Knobs::Numa::kOn;
    else if (s.substr(0, 5) == "bind:" && parse_int(s.substr(5), &n) && n >= 0 && n < 1024) {
      k.numa = Knobs::Numa::kBind;
      k.numa_bind_node = int(n);
    } else {
      malformed("GORTNUMA", v, "off, on or bind:N");
    }
  }
  if (const char* v = env("GORTNUMA_FAKE")) {
    long long n = 0;
    if (!parse_int(v, &n) || n < 1 || n > 16) malformed("GORTNUMA_FAKE", v, "a number of virtual nodes in 1..16");
    k.numa_fake = int(n);
  }
  if (const char* v = env("GORTNUMAPIN")) {
    const std::string_view s(v);
    if (s != "0" && s != "1") malformed("GORTNUMAPIN", v, "1 (pin threads to their node) or 0");
    k.numa_pin = s == "1";
  }
  if (const char* v = env("GORTNUMAMEM")) {
    const std::string_view s(v);
    if (s != "preferred" && s != "bind") malformed("GORTNUMAMEM", v, "preferred or bind");
    k.numa_mem_bind = s == "bind";
  }
  k.trace = env("GORTTRACE");
  if (const char* v = env("GODEBUG")) parse_godebug(v, &k);
  return k;
}

}  // namespace

const Knobs& knobs() {
  static const Knobs parsed = parse();
  return parsed;
}

bool parse_int(std::string_view text, long long* out) {
  size_t i = 0;
  const bool negative = !text.empty() && text[0] == '-';
  if (negative) ++i;
  if (i == text.size()) return false;
  unsigned long long v = 0;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    v = v * 10 + unsigned(text[i] - '0');
    if (v > (1ULL << 62)) return false;
  }
  *out = negative ? -static_cast<long long>(v) : static_cast<long long>(v);
  return true;
}

bool parse_size(std::string_view text, size_t* out) {
  size_t i = 0;
  unsigned long long v = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    v = v * 10 + unsigned(text[i] - '0');
    if (v > (1ULL << 40)) return false;
    ++i;
  }
  if (i == 0) return false;
  if (i < text.size()) {
    const char unit = char(text[i] | 0x20);
    if (unit == 'k') v <<= 10;
    else if (unit == 'm') v <<= 20;
    else if (unit == 'g') v <<= 30;
    else return false;
    ++i;
    if (i < text.size() && (text[i] | 0x20) == 'i') ++i;  // KiB, MiB, GiB
    if (i < text.size() && (text[i] | 0x20) == 'b') ++i;
    if (i != text.size() || v > (1ULL << 40)) return false;
  }
  *out = size_t(v);
  return true;
}

}  // namespace gort::internal
