// Go's select statement.
//
//   gort::select(
//       gort::recv(in, [&](int v, bool ok) { ... }),    // case v, ok := <-in
//       gort::recv(quit, [&](int) { ... }),             // case <-quit
//       gort::send(out, 42, [&] { ... }),               // case out <- 42
//       gort::otherwise([&] { ... }));                  // default
//
// Without `otherwise`, select parks the goroutine until some case can
// proceed; several ready cases are chosen among at random. Nil channels
// never proceed. The handler of the chosen case runs after every channel
// lock is released; select returns the chosen case's index (-1: default).
//
// For a number of cases known only at run time, build a Select.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "gort/chan.hpp"
#include "gort/gc.hpp"

namespace gort {

namespace detail {

template <class T, class F>
struct RecvCase {
  detail::Channel* c;
  F handler;
  T value{};
  bool ok = false;

  SelectCase erase() { return {c, &value, false}; }
  void run() {
    if constexpr (std::is_invocable_v<F&, T&&, bool>) handler(std::move(value), ok);
    else if constexpr (std::is_invocable_v<F&, T&&>) handler(std::move(value));
    else handler();
  }
};

template <class T, class F>
struct SendCase {
  detail::Channel* c;
  T value;
  F handler;

  SelectCase erase() { return {c, &value, true}; }
  void run() { handler(); }
};

template <class F>
struct DefaultCase {
  F handler;
};

template <class C>
struct is_default : std::false_type {};
template <class F>
struct is_default<DefaultCase<F>> : std::true_type {};

}  // namespace detail

template <class T, class F = void (*)(T, bool)>
detail::RecvCase<T, F> recv(
    const chan<T>& ch, F handler = [](T, bool) {}) {
  return {ch.core(), std::move(handler)};
}

template <class T, class V, class F = void (*)()>
detail::SendCase<T, F> send(
    const chan<T>& ch, V&& value, F handler = [] {}) {
  return {ch.core(), T(std::forward<V>(value)), std::move(handler)};
}

template <class F>
detail::DefaultCase<F> otherwise(F handler) {
  return {std::move(handler)};
}

template <class... Cases>
int select(Cases&&... cases) {
  constexpr int kDefaults = (0 + ... + int(detail::is_default<std::decay_t<Cases>>::value));
  static_assert(kDefaults <= 1, "select: at most one default case");
  constexpr int kChannelCases = int(sizeof...(Cases)) - kDefaults;

  detail::SelectCase erased[kChannelCases > 0 ? kChannelCases : 1];
  int n = 0;
  [[maybe_unused]] auto collect = [&](auto& c) {
    if constexpr (!detail::is_default<std::decay_t<decltype(c)>>::value) erased[n++] = c.erase();
  };
  (collect(cases), ...);

  bool ok = false;
  const int chosen = detail::select_go(erased, kChannelCases, kDefaults == 0, &ok);

  int index = 0;
  [[maybe_unused]] auto dispatch = [&](auto& c) {
    using C = std::decay_t<decltype(c)>;
    if constexpr (detail::is_default<C>::value) {
      if (chosen < 0) c.handler();
    } else {
      if (index == chosen) {
        if constexpr (requires { c.ok; }) c.ok = ok;
        c.run();
      }
      ++index;
    }
  };
  (dispatch(cases), ...);
  return chosen;
}

// A select whose cases are only known at run time (Go's reflect.Select).
class Select {
  // A case's value lives on the heap, where the collector looks only
  // because the slot says so: a pointer about to be sent or just received
  // stays alive.
  template <class T>
  struct Slot {
    Slot() = default;
    template <class V>
    explicit Slot(V&& v) : value(std::forward<V>(v)) {}
    T value{};
    gc::detail::RootRange range{&value, sizeof(T)};
  };

 public:
  template <class T, class F>
  Select& recv(const chan<T>& ch, F handler) {
    auto slot = std::make_shared<Slot<T>>();
    cases_.push_back({ch.core(), &slot->value, false});
    handlers_.push_back([slot, h = std::move(handler)](bool ok) mutable {
      if constexpr (std::is_invocable_v<F&, T&&, bool>) h(std::move(slot->value), ok);
      else h(std::move(slot->value));
    });
    keep_.push_back(std::move(slot));
    return *this;
  }

  template <class T, class V, class F>
  Select& send(const chan<T>& ch, V&& value, F handler) {
    auto slot = std::make_shared<Slot<T>>(std::forward<V>(value));
    cases_.push_back({ch.core(), &slot->value, true});
    handlers_.push_back([h = std::move(handler)](bool) mutable { h(); });
    keep_.push_back(std::move(slot));
    return *this;
  }

  // Blocks until a case proceeds; returns its index in the order added.
  int wait() { return choose(true); }
  // Proceeds with a ready case, or returns -1 at once.
  int poll() { return choose(false); }

 private:
  int choose(bool block) {
    bool ok = false;
    const int chosen = detail::select_go(cases_.data(), int(cases_.size()), block, &ok);
    if (chosen >= 0) handlers_[size_t(chosen)](ok);
    return chosen;
  }

  std::vector<detail::SelectCase> cases_;
  std::vector<std::function<void(bool)>> handlers_;
  std::vector<std::shared_ptr<void>> keep_;
};

}  // namespace gort
