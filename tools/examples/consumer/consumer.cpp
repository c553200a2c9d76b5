// A program outside gort's tree, built against an installed gort (meson or
// CMake through pkg-config) or against gort as a meson subproject; see
// README.md, "Using gort from your project". It includes <gort/...> only.
// tools/check-install builds it each of those ways and runs it: it prints
// one line and nothing else, so gort stays quiet on start and exit.
#include <gort/gort.hpp>

#include <cstdio>

namespace gc = gort::gc;

struct Node {
  gc::ref<Node> next;
  int value = 0;
  void trace(gc::Visitor& v) const { v(next); }
};

int main() {
  const int sum = gort::run([] {
    auto values = gort::make_chan<int>();
    gort::WaitGroup wg;
    for (int i = 1; i <= 100; ++i) {
      wg.add(1);
      gort::go([=, &wg] {
        values.send(i);
        wg.done();
      });
    }
    gort::go([&] {
      wg.wait();
      values.close();
    });
    // A collected list of what arrived, walked after a collection.
    Node* head = nullptr;
    for (int v : values) {
      Node* n = gc::make<Node>();
      n->value = v;
      n->next = head;
      head = n;
    }
    gc::collect();
    int total = 0;
    for (Node* n = head; n != nullptr; n = n->next.get()) total += n->value;
    return total;
  });
  std::printf("consumer: sum=%d\n", sum);
  return sum == 5050 ? 0 : 1;
}
