#include "support.hpp"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "gort/gort.hpp"

namespace gort_test {

SpinningGoroutine::SpinningGoroutine() {
  done_.add(1);
  gort::go([this] {
    started_ = true;
    while (!quit_.load(std::memory_order_relaxed)) spins_.fetch_add(1, std::memory_order_relaxed);
    done_.done();
  });
  while (!started_) gort::yield();
}

SpinningGoroutine::~SpinningGoroutine() {
  quit_ = true;
  done_.wait();
}

__attribute__((noinline)) void scrub_stack() {
  char below[16 << 10];
  std::memset(below, 0, sizeof below);
  asm volatile("" : : "r"(below) : "memory");
}

int64_t rss_bytes() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long size = 0, resident = 0;
  if (f) {
    if (std::fscanf(f, "%ld %ld", &size, &resident) != 2) resident = 0;
    std::fclose(f);
  }
  return int64_t(resident) * sysconf(_SC_PAGESIZE);
}

void raise_fd_limit() {
  rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

bool in_child() { return std::getenv("GORT_TEST_CHILD") != nullptr; }

ChildResult run_child(const std::string& test_name, const std::map<std::string, std::string>& env) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  // stdout goes to a file, so that a child filling one pipe while we read
  // the other cannot deadlock us.
  char out_path[] = "/tmp/gort-child-out-XXXXXX";
  const int out_fd = mkstemp(out_path);
  if (out_fd < 0) return {};
  unlink(out_path);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 2);
    dup2(out_fd, 1);
    close(fds[0]);
    close(fds[1]);
    close(out_fd);
    setenv("GORT_TEST_CHILD", "1", 1);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    alarm(120);  // survives exec
    execl("/proc/self/exe", "child", test_name.c_str(), nullptr);
    _exit(127);
  }
  close(fds[1]);
  ChildResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) r.err.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) r.exit_status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  lseek(out_fd, 0, SEEK_SET);
  while ((n = read(out_fd, buf, sizeof buf)) > 0) r.out.append(buf, size_t(n));
  close(out_fd);
  return r;
}

}  // namespace gort_test
