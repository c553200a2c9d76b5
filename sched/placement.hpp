// NUMA placement of the scheduler: which node each P belongs to, the order
// in which an idle P looks at the others' run queues (its own node first,
// then the nearest), and pinning an M to the CPUs of its P's node. The
// topology itself is runtime/internal/numa.hpp; Go has no counterpart (its
// scheduler steals in one random order over all Ps).
#pragma once

#include <cstdint>

#include "sched/m.hpp"
#include "sched/p.hpp"

namespace gort::sched {

// Sets every P's node and steal order (runtime start-up, Ps made, none
// running). Ps are spread over the nodes in contiguous runs of equal
// size: P i belongs to node i * nodes / gomaxprocs.
void place_ps();

// Pins m's thread to the CPUs of p's node if it is not there already
// (acquirep, with sched.numa_pin).
void follow_p_node(M* m, const P* p);

// Calls fn(victim) for every P but self, nearest first: self's node, then
// the other nodes by their distance, each group from a random start, so
// two thieves seldom pick the same victim. Stops when fn returns true.
template <class Fn>
bool for_each_victim_nearest_first(const P* self, FastRand& rand, Fn&& fn) {
  for (size_t g = 0; g + 1 < self->victim_groups.size(); ++g) {
    const uint32_t lo = self->victim_groups[g];
    const uint32_t n = self->victim_groups[g + 1] - lo;
    const uint32_t start = rand.next() % n;
    for (uint32_t k = 0; k < n; ++k)
      if (fn(self->victims[lo + (start + k) % n])) return true;
  }
  return false;
}

}  // namespace gort::sched
