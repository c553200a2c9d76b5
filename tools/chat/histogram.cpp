#include "histogram.hpp"

#include <algorithm>
#include <bit>

namespace chat {

// Values below 64 have a bucket each; above, a value's top kSubBits + 1
// bits pick its bucket: the power of two it lies in, and which 64th of it.
int Histogram::index(uint64_t v) {
  if (v < kSub) return static_cast<int>(v);
  const int shift = std::bit_width(v) - kSubBits - 1;
  return (shift + 1) * kSub + static_cast<int>((v >> shift) & (kSub - 1));
}

uint64_t Histogram::upper(int i) {
  if (i < kSub) return static_cast<uint64_t>(i);
  const int shift = i / kSub - 1;
  const uint64_t sub = static_cast<uint64_t>(i % kSub) + kSub;
  return ((sub + 1) << shift) - 1;
}

void Histogram::record(int64_t us) {
  const uint64_t v = us < 0 ? 0 : static_cast<uint64_t>(us);
  counts_[index(v)].fetch_add(1, std::memory_order_relaxed);
  int64_t m = max_.load(std::memory_order_relaxed);
  while (static_cast<int64_t>(v) > m && !max_.compare_exchange_weak(m, static_cast<int64_t>(v), std::memory_order_relaxed)) {
  }
}

uint64_t Histogram::count() const {
  uint64_t n = 0;
  for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
  return n;
}

int64_t Histogram::quantile(double q) const {
  const uint64_t total = count();
  if (total == 0) return 0;
  const auto want = static_cast<uint64_t>(q * static_cast<double>(total) + 0.5);
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (seen >= want && seen > 0) return std::min<int64_t>(static_cast<int64_t>(upper(i)), max());
  }
  return max();
}

}  // namespace chat
