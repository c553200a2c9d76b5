// A FIFO of waiting goroutines (their sudogs, see sched/sudog.hpp). Declared
// among the public headers because public synchronisation types embed one;
// only the runtime's .cpp files use its operations.
#pragma once

namespace gort::sched {

struct Sudog;

struct WaitQueue {
  Sudog* first = nullptr;
  Sudog* last = nullptr;

  bool empty() const { return first == nullptr; }
  inline void push_back(Sudog* s);
  inline void push_front(Sudog* s);
  inline void remove(Sudog* s);
  inline Sudog* pop_front();
};

}  // namespace gort::sched
