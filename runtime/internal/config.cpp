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
  k.stack_canary = env("GORTSTACKCANARY") != nullptr;
  k.trace = env("GORTTRACE");
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
