// select (Go's runtime/select.go).
//
//  1. Visit the cases in a random order (pollorder) and take the first one
//     that can proceed now. Randomness keeps one busy channel from starving
//     the others.
//  2. None ready and no default: enqueue one sudog per case, all naming this
//     goroutine, and park. Every channel involved is locked in address order
//     (lockorder), so two selects over the same channels cannot deadlock.
//  3. The first channel to act wins the race on g->select_done, passes its
//     sudog in g->param and wakes us; we relock everything and unlink the
//     losing sudogs.
#include <algorithm>
#include <vector>

#include "gort/detail/safepoint.hpp"
#include "runtime/internal/fatal.hpp"
#include "sched/chan.hpp"
#include "sched/sched.hpp"

namespace gort::detail {

using sched::ChanCore;
using sched::G;
using sched::Sudog;

namespace {

struct SelectState {
  SelectCase* cases;
  int* lockorder;
  int nlock;
};

void sellock(const SelectState& st) {
  ChanCore* last = nullptr;
  for (int i = 0; i < st.nlock; ++i) {
    ChanCore* c = sched::core_of(st.cases[st.lockorder[i]].c);
    if (c != last) c->lock.lock();
    last = c;
  }
}

void selunlock(const SelectState& st) {
  for (int i = st.nlock - 1; i >= 0; --i) {
    ChanCore* c = sched::core_of(st.cases[st.lockorder[i]].c);
    if (i > 0 && sched::core_of(st.cases[st.lockorder[i - 1]].c) == c) continue;  // unlock duplicates once
    c->lock.unlock();
  }
}

bool selunlock_after_park(G*, void* st) {
  selunlock(*static_cast<SelectState*>(st));
  return true;
}

// Small selects keep their scratch arrays on the stack.
template <class T, int N>
struct Scratch {
  T local[N];
  std::vector<T> heap;
  T* get(int n) {
    if (n <= N) return local;
    heap.resize(size_t(n));
    return heap.data();
  }
};

}  // namespace

int select_go(SelectCase* cases, int n, bool block, bool* recv_ok) {
  detail::safepoint();
  *recv_ok = false;
  Scratch<int, 16> poll_scratch, lock_scratch;
  int* pollorder = poll_scratch.get(n);
  int* lockorder = lock_scratch.get(n);

  // Random permutation of the non-nil cases (inside-out Fisher-Yates).
  int npoll = 0;
  for (int i = 0; i < n; ++i) {
    if (!cases[i].c) continue;
    const int j = int(sched::fastrand() % uint32_t(npoll + 1));
    pollorder[npoll] = pollorder[j];
    pollorder[j] = i;
    ++npoll;
  }
  if (npoll == 0) {
    if (!block) return -1;
    sched::park(nullptr, nullptr, "select (no cases)");
    __builtin_unreachable();
  }
  std::copy(pollorder, pollorder + npoll, lockorder);
  std::sort(lockorder, lockorder + npoll, [&](int a, int b) { return std::less<Channel*>()(cases[a].c, cases[b].c); });
  SelectState st{cases, lockorder, npoll};
  sellock(st);

  // Pass 1: anything ready now?
  for (int k = 0; k < npoll; ++k) {
    const int i = pollorder[k];
    ChanCore* c = sched::core_of(cases[i].c);
    if (cases[i].is_send) {
      if (c->closed) {
        selunlock(st);
        sched::panic_send_on_closed();
      }
      if (Sudog* r = sched::dequeue_waiter(c->recvq)) {
        G* g = sched::send_direct(c, r, cases[i].elem);
        selunlock(st);
        sched::ready(g, true);
        return i;
      }
      if (c->count < c->cap) {
        sched::buffer_put(c, cases[i].elem);
        selunlock(st);
        return i;
      }
    } else {
      if (Sudog* s = sched::dequeue_waiter(c->sendq)) {
        G* g = sched::recv_direct(c, s, cases[i].elem);
        selunlock(st);
        sched::ready(g, true);
        *recv_ok = true;
        return i;
      }
      if (c->count > 0) {
        sched::buffer_take(c, cases[i].elem);
        selunlock(st);
        *recv_ok = true;
        return i;
      }
      if (c->closed) {
        selunlock(st);
        c->ops->reset(cases[i].elem);
        return i;
      }
    }
  }
  if (!block) {
    selunlock(st);
    return -1;
  }

  // Pass 2: wait on every channel at once.
  G* self = sched::current_g();
  Scratch<Sudog, 8> sudog_scratch;
  Sudog* sudogs = sudog_scratch.get(n);
  self->select_done.store(0, std::memory_order_relaxed);
  self->param = nullptr;
  for (int k = 0; k < npoll; ++k) {
    const int i = lockorder[k];
    Sudog& s = sudogs[i];
    s = Sudog{};
    s.g = self;
    s.elem = cases[i].elem;
    s.c = sched::core_of(cases[i].c);
    s.is_select = true;
    (cases[i].is_send ? s.c->sendq : s.c->recvq).push_back(&s);
  }
  sched::park(selunlock_after_park, &st, "select");

  // Pass 3: the winner is in param; unlink the rest.
  auto* winner = static_cast<Sudog*>(self->param);
  sellock(st);
  int chosen = -1;
  for (int k = 0; k < npoll; ++k) {
    const int i = lockorder[k];
    Sudog& s = sudogs[i];
    if (&s == winner) {
      chosen = i;
      continue;
    }
    (cases[i].is_send ? s.c->sendq : s.c->recvq).remove(&s);
  }
  selunlock(st);
  if (chosen < 0) internal::throw_error("select woken without a winning case");
  if (cases[chosen].is_send && !winner->success) sched::panic_send_on_closed();
  *recv_ok = winner->success;
  return chosen;
}

}  // namespace gort::detail
