// Runs a hidden test case of this same test binary in a fresh child process
// (fresh: exec, not just fork, so process-wide state such as the stack guard
// mode is decided anew), and collects its exit status and stderr. Tests of
// fatal errors use it: the error must end the child, not the test run.
#pragma once

#include <map>
#include <string>

namespace gort_test {

struct ChildResult {
  int exit_status = -1;   // exit code, or -1 if killed by a signal
  int signal = 0;         // signal that killed it, if any
  std::string err;        // everything written to stderr
};

// Runs the test case named `test_name` with extra environment variables.
ChildResult run_child(const std::string& test_name, const std::map<std::string, std::string>& env);

// True inside such a child.
bool in_child();

}  // namespace gort_test
