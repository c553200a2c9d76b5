#include "runtime/internal/log.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>

#include "runtime/internal/config.hpp"

namespace gort::internal {

namespace {

spdlog::level::level_enum spdlog_level(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
    case LogLevel::kOff:
      return spdlog::level::off;
  }
  return spdlog::level::warn;
}

}  // namespace

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto l = spdlog::stderr_color_mt("gort");
    l->set_pattern("%v");
    l->set_level(spdlog_level(knobs().log_level));
    return l;
  }();
  return *logger;
}

}  // namespace gort::internal
