// The type-erased channel interface under gort::chan<T> and gort::select.
// The algorithm (Go's runtime/chan.go and select.go) lives in sched/; a
// chan<T> only tells it how to move, clear and store a T.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <type_traits>

namespace gort::detail {

// The runtime's channel (sched::ChanCore), opaque here: the templates only
// pass it along.
struct Channel {
 protected:
  Channel() = default;
  ~Channel() = default;
};

// Values that certainly hold no pointer: a channel of them is never
// scanned by the collector. Anything else may carry a collected pointer in
// flight (chan<Node*>, chan<gc::ref<Node>>, a struct holding one), and its
// buffer is scanned as a root, as Go's are.
template <class T>
struct pointer_free : std::bool_constant<std::is_arithmetic_v<T> || std::is_enum_v<T>> {};
template <class Rep, class Period>
struct pointer_free<std::chrono::duration<Rep, Period>> : std::true_type {};
template <class Clock, class Duration>
struct pointer_free<std::chrono::time_point<Clock, Duration>> : std::true_type {};

struct ChanOps {
  void (*move_assign)(void* dst, void* src);  // *dst = std::move(*src)
  void (*reset)(void* dst);                   // *dst = T{} (Go's zero value)
  void* (*new_buffer)(size_t n);              // n default-constructed Ts
  void (*delete_buffer)(void* buf);
  size_t elem_size;
  bool may_hold_pointers;
};

template <class T>
inline const ChanOps* chan_ops() {
  static const ChanOps ops{
      [](void* dst, void* src) { *static_cast<T*>(dst) = std::move(*static_cast<T*>(src)); },
      [](void* dst) { *static_cast<T*>(dst) = T{}; },
      [](size_t n) -> void* { return new T[n]; },
      [](void* buf) { delete[] static_cast<T*>(buf); },
      sizeof(T),
      !pointer_free<T>::value,
  };
  return &ops;
}

std::shared_ptr<Channel> chan_make(const ChanOps* ops, size_t cap);

// elem is the value to send (moved from) or where a received value goes.
// A null channel blocks forever, as a nil channel does in Go.
void chan_send(Channel* c, void* elem);
bool chan_recv(Channel* c, void* elem);  // false: closed and drained
void chan_close(Channel* c);
size_t chan_len(const Channel* c);
size_t chan_cap(const Channel* c);

struct SelectCase {
  Channel* c;  // null: this case can never proceed
  void* elem;
  bool is_send;
};

// Go's selectgo: picks a ready case at random, else blocks (block=true)
// until one is, else returns -1. For a receive, *recv_ok tells whether a
// value arrived (false: the channel is closed).
int select_go(SelectCase* cases, int n, bool block, bool* recv_ok);

}  // namespace gort::detail
