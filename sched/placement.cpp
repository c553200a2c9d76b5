#include "sched/placement.hpp"

#include <algorithm>

#include "runtime/internal/numa.hpp"
#include "sched/sched.hpp"

namespace gort::sched {

void place_ps() {
  const internal::numa::Topology& t = internal::numa::topology();
  const int32_t n = sched.gomaxprocs;
  sched.numa_pin = t.pin;
  for (int32_t i = 0; i < n; ++i) {
    P* p = sched.allp[size_t(i)];
    p->node = int32_t(int64_t(i) * t.nodes / n);
    p->stacks.set_node(p->node);
  }
  for (P* self : sched.allp) {
    self->victims.clear();
    self->victim_groups.clear();
    for (P* p : sched.allp)
      if (p != self) self->victims.push_back(p);
    const auto distance = [&](const P* p) { return t.distance[self->node][p->node]; };
    // Own node first (its distance is the smallest), then by distance; Ps
    // at one distance form a group.
    std::stable_sort(self->victims.begin(), self->victims.end(), [&](const P* a, const P* b) {
      const bool a_local = a->node == self->node;
      const bool b_local = b->node == self->node;
      if (a_local != b_local) return a_local;
      return distance(a) < distance(b);
    });
    for (uint32_t i = 0; i < self->victims.size(); ++i) {
      const bool starts_group = i == 0 ||
                                (self->victims[i]->node == self->node) != (self->victims[i - 1]->node == self->node) ||
                                distance(self->victims[i]) != distance(self->victims[i - 1]);
      if (starts_group) self->victim_groups.push_back(i);
    }
    self->victim_groups.push_back(uint32_t(self->victims.size()));
  }
}

void follow_p_node(M* m, const P* p) {
  if (m->node == p->node) return;
  m->node = p->node;
  internal::numa::pin_thread(p->node);
}

}  // namespace gort::sched
