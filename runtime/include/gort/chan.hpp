// Go's channels: chan<T>, made with make_chan<T>(capacity).
//
//   auto ch = gort::make_chan<int>(10);   // buffered; make_chan<int>() is unbuffered
//   gort::go([ch] { for (int i = 0; i < 3; ++i) ch.send(i); ch.close(); });
//   for (int v : ch) use(v);              // receives until closed and drained
//
// A chan<T> is a reference, like Go's: copies refer to the same channel. A
// default-constructed chan<T> is nil: sending or receiving on it blocks
// forever, closing it panics. Send on a closed channel and close of a closed
// channel throw gort::panic_error with Go's message. Receiving from a closed
// channel drains the buffer first, then yields T{} with ok == false.
//
// T must be default-constructible (Go's zero value) and move-assignable.
#pragma once

#include <cstddef>
#include <iterator>
#include <memory>
#include <optional>
#include <utility>

#include "gort/detail/chan_core.hpp"

namespace gort {

template <class T>
class chan {
 public:
  chan() = default;

  void send(T value) const { detail::chan_send(core_.get(), &value); }

  T recv() const {
    T value{};
    detail::chan_recv(core_.get(), &value);
    return value;
  }

  // Go's v, ok := <-ch.
  std::pair<T, bool> recv_ok() const {
    T value{};
    const bool ok = detail::chan_recv(core_.get(), &value);
    return {std::move(value), ok};
  }

  void close() const { detail::chan_close(core_.get()); }
  size_t len() const { return detail::chan_len(core_.get()); }
  size_t cap() const { return detail::chan_cap(core_.get()); }
  bool is_nil() const { return core_ == nullptr; }

  friend bool operator==(const chan& a, const chan& b) { return a.core_ == b.core_; }

  // for (T v : ch): Go's for v := range ch.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;

    iterator() = default;
    explicit iterator(const chan* ch) : ch_(ch) { advance(); }
    T& operator*() { return *value_; }
    iterator& operator++() {
      advance();
      return *this;
    }
    void operator++(int) { advance(); }
    bool operator==(const iterator& other) const { return ch_ == other.ch_; }

   private:
    void advance() {
      auto [v, ok] = ch_->recv_ok();
      if (ok) value_ = std::move(v);
      else ch_ = nullptr;
    }
    const chan* ch_ = nullptr;
    std::optional<T> value_;
  };
  iterator begin() const { return iterator(this); }
  iterator end() const { return iterator(); }

  detail::Channel* core() const { return core_.get(); }

 private:
  template <class U>
  friend chan<U> make_chan(size_t);
  std::shared_ptr<detail::Channel> core_;
};

template <class T>
chan<T> make_chan(size_t capacity = 0) {
  chan<T> ch;
  ch.core_ = detail::chan_make(detail::chan_ops<T>(), capacity);
  return ch;
}

}  // namespace gort
