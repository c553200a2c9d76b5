// Size classes for small objects: Go's table (runtime/sizeclasses.go,
// produced by mksizeclasses.go) plus a 40-byte class for gort's header
// (sizeclass.cpp says why).
//
// Objects up to 32 KiB are rounded up to one of 68 sizes; each size has a
// span of a few 8 KiB pages carved into equal slots. Go chose the sizes so
// that rounding wastes at most 12.5% of an object and a span's unused tail
// at most 12.5% of the span, with as few classes as that allows.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gort::gc {

inline constexpr size_t kHeapPageShift = 13;
inline constexpr size_t kHeapPageSize = size_t(1) << kHeapPageShift;  // 8 KiB, as Go
inline constexpr size_t kMaxSmallSize = 32768;
inline constexpr int kNumSizeClasses = 69;                   // including class 0
inline constexpr int kNumSpanClasses = kNumSizeClasses * 2;  // scan and noscan
inline constexpr size_t kMaxObjectsPerSpan = 1024;           // class 1: 8-byte objects in one page

// Class 0 means "large": the object gets a span of its own.
int size_to_class(size_t size);
size_t class_size(int sizeclass);
size_t class_pages(int sizeclass);  // pages per span of this class
int num_classes();                  // including class 0

}  // namespace gort::gc
