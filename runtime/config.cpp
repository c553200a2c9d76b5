#include "runtime/config.hpp"

#include <sched.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "runtime/internal/config.hpp"

namespace gort::runtime {

namespace {

// The CPUs this process may run on (its affinity mask), as Go counts them.
int cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return 1;
}

[[noreturn]] void throw_invalid(std::string_view field, const std::string& value, std::string_view want) {
  std::string message(field);
  message.append(value).append(want);
  throw std::invalid_argument(message);
}

}  // namespace

Settings resolve(const Config& cfg) {
  if (cfg.gomaxprocs < 0 || cfg.gomaxprocs > 1024)
    throw_invalid("gort::Config::gomaxprocs = ", std::to_string(cfg.gomaxprocs),
                  ": want 1..1024, or 0 for the default");
  if (cfg.max_stack != 0 && cfg.max_stack < 16 * 1024)
    throw_invalid("gort::Config::max_stack = ", std::to_string(cfg.max_stack),
                  ": want at least 16 KiB, or 0 for the default");
  const internal::Knobs& env = internal::knobs();
  Settings s;
  s.gomaxprocs = cfg.gomaxprocs ? cfg.gomaxprocs : env.gomaxprocs ? env.gomaxprocs : cpus();
  s.max_stack = cfg.max_stack ? cfg.max_stack : env.max_stack;
  return s;
}

}  // namespace gort::runtime
