#include "runtime/internal/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace gort::internal {

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("gort");
    l->set_pattern("%v");
    return l;
  }();
  return *logger;
}

}  // namespace gort::internal
