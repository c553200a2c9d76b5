// A latency histogram in the manner of HdrHistogram: values in
// microseconds, counted in buckets whose width doubles with each power of
// two and which split each power into 64 sub-buckets, so any recorded value
// is known to within 1/64 (1.6%) at any size, in a fixed 3,776 counters.
// Many goroutines record at once (relaxed atomic adds).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace chat {

class Histogram {
 public:
  void record(int64_t us);
  // The smallest value v such that at least q of all recorded values are
  // at most v (q in [0, 1]), to within a bucket's width.
  int64_t quantile(double q) const;
  int64_t max() const { return max_.load(std::memory_order_relaxed); }
  uint64_t count() const;

 private:
  static constexpr int kSubBits = 6;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = (64 - kSubBits + 1) * kSub;
  static int index(uint64_t v);
  static uint64_t upper(int index);

  std::array<std::atomic<uint64_t>, kBuckets> counts_{};
  std::atomic<int64_t> max_{0};
};

}  // namespace chat
