// Process configuration from Go-named environment variables
// (GOMAXPROCS, GORTMAXSTACK). See README.md for the list.
#pragma once

#include <cstddef>
#include <string>

namespace gort::runtime {

// GOMAXPROCS if set to a positive integer, else the CPUs this process may
// use (its affinity mask, as Go does).
int default_gomaxprocs();

// GORTMAXSTACK ("262144", "256k", "1m"); 0 if unset. Exits with a clear
// message on a malformed value.
size_t env_max_stack();

// Parses a size with an optional k/m/g suffix; false when malformed.
bool parse_size(const std::string& text, size_t* out);

}  // namespace gort::runtime
