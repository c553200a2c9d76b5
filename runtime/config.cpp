#include "runtime/config.hpp"

#include <sched.h>

#include <cstdio>
#include <cstdlib>

namespace gort::runtime {

int default_gomaxprocs() {
  if (const char* env = std::getenv("GOMAXPROCS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && n > 0 && n <= 1024) return int(n);
    std::fprintf(stderr, "gort: ignoring GOMAXPROCS=%s (want an integer in 1..1024)\n", env);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return 1;
}

bool parse_size(const std::string& text, size_t* out) {
  if (text.empty()) return false;
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
    if (i < text.size() && (text[i] | 0x20) == 'b') ++i;
    if (i != text.size()) return false;
  }
  *out = size_t(v);
  return true;
}

size_t env_max_stack() {
  const char* env = std::getenv("GORTMAXSTACK");
  if (!env) return 0;
  size_t v = 0;
  if (!parse_size(env, &v) || v < 16 * 1024) {
    std::fprintf(stderr, "fatal error: GORTMAXSTACK=%s: want a size of at least 16k, e.g. 256k or 1m\n",
                 env);
    std::exit(2);
  }
  return v;
}

}  // namespace gort::runtime
