// gort::panic_error, defined here so that the runtime, which throws it for
// Go's run-time panics, need not include the public headers (gort/panic.hpp
// is where users find it).
#pragma once

#include <stdexcept>
#include <string>

namespace gort {

class panic_error : public std::logic_error {
 public:
  explicit panic_error(const std::string& what) : std::logic_error(what) {}
};

}  // namespace gort
