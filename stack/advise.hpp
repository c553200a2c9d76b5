// Batched madvise: applies one piece of advice to many address ranges with
// as few system calls as possible (process_madvise on our own pidfd, 1,024
// ranges a call). Stack slots are advised by the thousand: guard pages
// installed, top pages pre-faulted, freed slots decommitted. One madvise per
// slot would pay a system call each and, for MADV_DONTNEED, a TLB
// shoot-down IPI each (about 10 us on these machines).
#pragma once

#include <sys/uio.h>

#include <cstddef>

namespace gort::stack {

// Returns false if the kernel refused some range (errno says why); ranges
// process_madvise will not take are retried one by one with madvise.
bool advise(iovec* ranges, size_t n, int advice);

}  // namespace gort::stack
