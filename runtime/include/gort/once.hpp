// Go's sync.Once: f runs exactly once; concurrent callers park until it
// has finished. Like Go, a call whose f throws still counts as done.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "gort/mutex.hpp"

namespace gort {

class Once {
 public:
  template <class F>
  void call(F&& f) {
    if (done_.load(std::memory_order_acquire)) return;
    std::lock_guard<Mutex> g(m_);
    if (done_.load(std::memory_order_relaxed)) return;
    struct MarkDone {
      std::atomic<uint32_t>& done;
      ~MarkDone() { done.store(1, std::memory_order_release); }
    } mark{done_};
    f();
  }

 private:
  std::atomic<uint32_t> done_{0};
  Mutex m_;
};

}  // namespace gort
