#include "gc/sizeclass.hpp"

namespace gort::gc {

namespace {

// Go's small size classes (runtime/sizeclasses.go, Go 1.19) and one more,
// 40 bytes: object size and pages (8 KiB) per span. Class 0, "large", is
// implicit. Go's sizes fit Go's objects, which carry no header; each of
// gort's carries an 8-byte one (gc/object.hpp), so a four-pointer object
// (or one std::string) needs 40 bytes, which Go's table rounds up to 48:
// a sixth of such a heap would be rounding. With the 40-byte class it is
// none (204 slots to a page, 32 bytes of it left over).
struct Class {
  uint32_t size;
  uint32_t pages;
};
constexpr Class kClasses[] = {
    {0, 0},     {8, 1},     {16, 1},     {24, 1},    {32, 1},    {40, 1},    {48, 1},    {64, 1},    {80, 1},    {96, 1},
    {112, 1},   {128, 1},   {144, 1},    {160, 1},   {176, 1},   {192, 1},   {208, 1},   {224, 1},   {240, 1},
    {256, 1},   {288, 1},   {320, 1},    {352, 1},   {384, 1},   {416, 1},   {448, 1},   {480, 1},   {512, 1},
    {576, 1},   {640, 1},   {704, 1},    {768, 1},   {896, 1},   {1024, 1},  {1152, 1},  {1280, 1},  {1408, 2},
    {1536, 1},  {1792, 2},  {2048, 1},   {2304, 2},  {2688, 1},  {3072, 3},  {3200, 2},  {3456, 3},  {4096, 1},
    {4864, 3},  {5376, 2},  {6144, 3},   {6528, 4},  {6784, 5},  {6912, 6},  {8192, 1},  {9472, 7},  {9728, 6},
    {10240, 5}, {10880, 4}, {12288, 3},  {13568, 5}, {14336, 7}, {16384, 2}, {18432, 9}, {19072, 7}, {20480, 5},
    {21760, 8}, {24576, 3}, {27264, 10}, {28672, 7}, {32768, 4},
};
constexpr int kNumClasses = int(sizeof kClasses / sizeof kClasses[0]);
static_assert(kNumClasses == kNumSizeClasses);

struct Index {
  uint8_t by_8[kMaxSmallSize / 8 + 1];  // (size + 7) / 8 -> class
  constexpr Index() : by_8{} {
    int c = 1;
    for (size_t i = 0; i <= kMaxSmallSize / 8; ++i) {
      while (kClasses[c].size < i * 8) ++c;
      by_8[i] = uint8_t(c);
    }
  }
};
constexpr Index kIndex;

}  // namespace

int size_to_class(size_t size) {
  if (size > kMaxSmallSize) return 0;
  return kIndex.by_8[(size + 7) / 8];
}

size_t class_size(int sizeclass) { return kClasses[sizeclass].size; }
size_t class_pages(int sizeclass) { return kClasses[sizeclass].pages; }
int num_classes() { return kNumClasses; }

}  // namespace gort::gc
