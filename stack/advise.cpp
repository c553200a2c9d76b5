#include "stack/advise.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "runtime/internal/lock.hpp"

namespace gort::stack {

namespace {

constexpr size_t kMaxIov = 1024;  // UIO_MAXIOV

}  // namespace

bool advise(iovec* ranges, size_t count, int advice) {
  static internal::Lock fd_lock;
  static int pidfd = -1;
  static pid_t pidfd_owner = 0;
  size_t done = 0;
  {
    // Re-opened after a fork, so that a child never advises its parent.
    internal::LockGuard g(fd_lock);
    const pid_t self = getpid();
    if (pidfd_owner != self) {
      if (pidfd >= 0) close(pidfd);
      pidfd = int(syscall(SYS_pidfd_open, self, 0));
      pidfd_owner = self;
    }
    while (pidfd >= 0 && done < count) {
      const size_t n = std::min(kMaxIov, count - done);
      const long r = syscall(SYS_process_madvise, pidfd, &ranges[done], n, advice, 0);
      if (r < 0) break;
      // A short count means the range at `done + k` stopped it; the loop
      // below retries from there.
      size_t bytes = size_t(r), k = 0;
      while (k < n && bytes >= ranges[done + k].iov_len) bytes -= ranges[done + k++].iov_len;
      done += k;
      if (k < n) break;
    }
  }
  bool ok = true;
  for (; done < count; ++done) ok = madvise(ranges[done].iov_base, ranges[done].iov_len, advice) == 0 && ok;
  return ok;
}

}  // namespace gort::stack
