// The example from README.md, built so that it stays true.
#include <gort/gort.hpp>

#include <chrono>
#include <cstdio>

int main() {
  const int rc = gort::run([] {
    auto results = gort::make_chan<int>(16);
    gort::WaitGroup wg;
    for (int i = 0; i < 1000; ++i) {
      wg.add(1);
      gort::go([=, &wg] {
        results.send(i * i);
        wg.done();
      });
    }
    gort::go([&] {
      wg.wait();
      results.close();
    });
    long sum = 0;
    for (int v : results) sum += v;  // until closed and drained
    gort::select(gort::recv(gort::after(std::chrono::milliseconds(5))), gort::otherwise([] {}));  // non-blocking select
    return sum == 332833500 ? 0 : 1;
  });
  std::printf("hello: %s\n", rc == 0 ? "sum of squares below 1000 is 332833500" : "wrong sum");
  return rc;
}
