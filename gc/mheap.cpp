#include "gc/mheap.hpp"

#include <sched.h>

#include <algorithm>
#include <new>
#include <utility>

#include "gc/poison.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/sysmem.hpp"

namespace gort::gc {

Heap& Heap::get() {
  static Heap heap;
  return heap;
}

Heap::Heap() {
  base_ = reinterpret_cast<uintptr_t>(internal::reserve(kReserveBytes, "the heap"));
  // One pointer per page: 64 MiB of address space, committed only where
  // spans exist.
  pages_ = static_cast<std::atomic<Span*>*>(
      internal::reserve((kReserveBytes >> kHeapPageShift) * sizeof(std::atomic<Span*>), "the heap's page table"));
  released_ = static_cast<std::atomic<uint64_t>*>(
      internal::reserve((kReserveBytes >> kHeapPageShift) / 8, "the heap's released-page bitmap"));
  nodes_ = internal::numa::topology().nodes;
  int log2_regions = 0;
  while ((1 << log2_regions) < nodes_) ++log2_regions;
  region_shift_ = __builtin_ctzll(kReserveBytes) - log2_regions;
  for (int node = 0; node < nodes_; ++node)
    internal::numa::place(reinterpret_cast<void*>(region_base(node)), size_t(1) << region_shift_, node);
}

size_t Heap::bytes_in_spans() const {
  size_t n = 0;
  for (int node = 0; node < nodes_; ++node) n += regions_[node].used.load(std::memory_order_relaxed);
  return n;
}

void Heap::set_pages(const Span* s, size_t first, size_t count) {
  for (size_t k = first; k < first + count; ++k) pages_[k].store(const_cast<Span*>(s), std::memory_order_release);
}

size_t Heap::count_released(size_t first, size_t count) const {
  size_t n = 0;
  for (size_t page = first; page < first + count;) {
    const size_t bit = page % 64;
    const size_t take = std::min<size_t>(64 - bit, first + count - page);
    const uint64_t mask = (take == 64 ? ~uint64_t(0) : (uint64_t(1) << take) - 1) << bit;
    n += size_t(__builtin_popcountll(released_[page / 64].load(std::memory_order_relaxed) & mask));
    page += take;
  }
  return n;
}

void Heap::set_released(size_t first, size_t count, bool released) {
  internal::assert_lock_held(lock_);
  for (size_t page = first; page < first + count;) {
    const size_t bit = page % 64;
    const size_t take = std::min<size_t>(64 - bit, first + count - page);
    const uint64_t mask = (take == 64 ? ~uint64_t(0) : (uint64_t(1) << take) - 1) << bit;
    std::atomic<uint64_t>& word = released_[page / 64];
    const uint64_t old = word.load(std::memory_order_relaxed);
    word.store(released ? old | mask : old & ~mask, std::memory_order_relaxed);
    page += take;
  }
}

Span* Heap::new_span_record() {
  internal::assert_lock_held(lock_);
  if (Span* s = spare_records_) {
    spare_records_ = s->next;
    s->next = nullptr;
    return s;
  }
  if (slab_left_ == 0) {
    constexpr size_t kSlabRecords = 1024;
    slab_ = static_cast<Span*>(internal::map_memory(kSlabRecords * sizeof(Span), "span records"));
    slab_left_ = kSlabRecords;
  }
  --slab_left_;
  return new (slab_++) Span;
}

void Heap::retire_record(Span* s) {
  internal::assert_lock_held(lock_);
  s->base = 0;
  s->npages = 0;
  s->prev = nullptr;
  s->next = spare_records_;
  spare_records_ = s;
}

void Heap::put_free(Span* s) {
  internal::assert_lock_held(lock_);
  s->state.store(SpanState::kFree, std::memory_order_release);
  Span*& bucket = regions_[s->node].free[std::min(s->npages, kFreeBuckets - 1)];
  s->prev = nullptr;
  s->next = bucket;
  if (bucket) bucket->prev = s;
  bucket = s;
  // Coalescing finds a free run from the page just outside it.
  set_pages(s, page_index(s->base), 1);
  set_pages(s, page_index(s->limit()) - 1, 1);
}

void Heap::remove_free(Span* s) {
  internal::assert_lock_held(lock_);
  if (s->prev) s->prev->next = s->next;
  else regions_[s->node].free[std::min(s->npages, kFreeBuckets - 1)] = s->next;
  if (s->next) s->next->prev = s->prev;
  s->next = s->prev = nullptr;
}

Span* Heap::take_free(size_t npages, int node) {
  internal::assert_lock_held(lock_);
  Span** free = regions_[node].free;
  for (size_t n = std::min(npages, kFreeBuckets - 1); n < kFreeBuckets - 1; ++n) {
    if (Span* s = free[n]) {
      remove_free(s);
      return s;
    }
  }
  Span* best = nullptr;
  for (Span* s = free[kFreeBuckets - 1]; s; s = s->next)
    if (s->npages >= npages && (!best || s->npages < best->npages)) best = s;
  if (best) remove_free(best);
  return best;
}

Span* Heap::free_neighbour(size_t page, int node) const {
  internal::assert_lock_held(lock_);
  // Runs never merge across regions: they are different nodes' memory.
  const uintptr_t lo = region_base(node);
  if (page < page_index(lo) || page >= page_index(lo + regions_[node].used.load(std::memory_order_relaxed)))
    return nullptr;
  Span* s = pages_[page].load(std::memory_order_relaxed);
  if (!s || s->state.load(std::memory_order_relaxed) != SpanState::kFree) return nullptr;
  // An interior page of a free run keeps a stale entry; only a run that
  // really covers the page is a neighbour.
  if (page < page_index(s->base) || page >= page_index(s->limit())) return nullptr;
  return s;
}

Span* Heap::grow(size_t npages, int node) {
  internal::assert_lock_held(lock_);
  Region& region = regions_[node];
  const size_t used = region.used.load(std::memory_order_relaxed);
  const size_t top = page_index(region_base(node) + used);
  // A free run at the very top grows in place instead of being skipped.
  Span* s = used > 0 ? free_neighbour(top - 1, node) : nullptr;
  const size_t fresh = s ? npages - s->npages : npages;
  if (used + fresh * kHeapPageSize > size_t(1) << region_shift_) return nullptr;
  if (s) {
    remove_free(s);
  } else {
    s = new_span_record();
    s->base = region_base(node) + used;
    s->node = uint8_t(node);
    s->npages = 0;
  }
  // Fresh pages were never touched: they read as zero, as released ones do.
  set_released(page_index(region_base(node) + used), fresh, true);
  released_bytes_.fetch_add(fresh * kHeapPageSize, std::memory_order_relaxed);
  s->npages += fresh;
  region.used.store(used + fresh * kHeapPageSize, std::memory_order_relaxed);
  return s;
}

// Sets up s (pages already its own, needzero set) for spanclass.
void Heap::init_span(Span* s, int spanclass, size_t large_size) {
  const int sizeclass = spanclass >> 1;
  s->spanclass = spanclass;
  s->elemsize = sizeclass == 0 ? large_size : class_size(sizeclass);
  s->nelems = sizeclass == 0 ? 1 : uint32_t(s->npages * kHeapPageSize / s->elemsize);
  s->clear_bits();
  s->freeindex = 0;
  s->allocated = 0;
  s->may_owe_destructors.store(false, std::memory_order_relaxed);
  s->next = s->prev = nullptr;
  // Every slot stays poisoned until it is allocated.
  poison(s->base, s->npages * kHeapPageSize);
}

Span* Heap::take_pages(size_t npages, int node, bool may_grow) {
  internal::assert_lock_held(lock_);
  // The asking node's region first; a full one borrows from the next.
  for (int k = 0; k < nodes_; ++k) {
    const int from = (node + k) % nodes_;
    Span* s = take_free(npages, from);
    if (!s && may_grow) s = grow(npages, from);
    if (s) return s;
  }
  if (may_grow)
    internal::fatal("runtime: out of memory: cannot allocate ", npages * kHeapPageSize, "-byte block (",
                    kReserveBytes >> 30, " GiB of heap reserved)");
  return nullptr;
}

Span* Heap::alloc_span(size_t npages, int spanclass, size_t large_size, int node) {
  Span* s = nullptr;
  {
    lock_.lock();
    // A stretch the scavenger has out for release may be what would fit:
    // wait for it to come back before growing the heap, or a heap that
    // shrinks and grows again grows for nothing (without bound, against a
    // caller that releases in a loop). The wait is short: whoever holds a
    // stretch cannot be stopped until it is back (scavenge).
    while (!(s = take_pages(npages, node, stretches_out_ == 0))) {
      const uint64_t returned = stretches_returned_.load(std::memory_order_relaxed);
      lock_.unlock();
      while (stretches_returned_.load(std::memory_order_acquire) == returned) sched_yield();
      lock_.lock();
    }
    if (s->npages > npages) {
      Span* rest = new_span_record();
      rest->base = s->base + npages * kHeapPageSize;
      rest->node = s->node;
      rest->npages = s->npages - npages;
      s->npages = npages;
      put_free(rest);
    }
    (s->node == node ? spans_local_ : spans_remote_).fetch_add(1, std::memory_order_relaxed);
    // Released pages read as zero: a span made only of them is not cleared
    // again (Go's needzero with scavenged pages).
    const size_t released = count_released(page_index(s->base), npages);
    set_released(page_index(s->base), npages, false);
    released_bytes_.fetch_sub(released * kHeapPageSize, std::memory_order_relaxed);
    s->needzero = released < npages;
    // Neither free (coalescing must not take it) nor holding objects yet.
    s->state.store(SpanState::kInit, std::memory_order_relaxed);
    s->heap_index = in_use_.size();
    in_use_.push_back(s);
    in_use_bytes_.fetch_add(npages * kHeapPageSize, std::memory_order_relaxed);
    lock_.unlock();
  }
  init_span(s, spanclass, large_size);
  // Publish the span to lookups only once it is complete.
  s->state.store(SpanState::kInUse, std::memory_order_release);
  set_pages(s, page_index(s->base), s->npages);
  return s;
}

void Heap::free_span(Span* s) {
  // The pages stay committed: the next span cut from them is likely due
  // within the next cycle, and a page fault costs more than clearing the
  // memory. The scavenger returns those that stay idle (scavenger.hpp).
  poison(s->base, s->npages * kHeapPageSize);
  internal::LockGuard l(lock_);
  Span* last = in_use_.back();
  in_use_[s->heap_index] = last;
  last->heap_index = s->heap_index;
  in_use_.pop_back();
  in_use_bytes_.fetch_sub(s->npages * kHeapPageSize, std::memory_order_relaxed);
  pages_freed_.fetch_add(s->npages, std::memory_order_relaxed);
  s->allocated = 0;
  s->next = s->prev = nullptr;
  coalesce_and_put(s);
}

void Heap::coalesce_and_put(Span* s) {
  internal::assert_lock_held(lock_);
  // Merge with the free runs on either side: any mix of sizes freed next to
  // each other becomes one run again.
  const size_t first = page_index(s->base);
  if (Span* left = first > 0 ? free_neighbour(first - 1, s->node) : nullptr) {
    remove_free(left);
    s->base = left->base;
    s->npages += left->npages;
    retire_record(left);
  }
  if (Span* right = free_neighbour(page_index(s->limit()), s->node)) {
    remove_free(right);
    s->npages += right->npages;
    retire_record(right);
  }
  put_free(s);
}

Span* Heap::take_unreleased(size_t max_pages) {
  internal::assert_lock_held(lock_);
  auto released = [&](size_t page) { return released_[page / 64].load(std::memory_order_relaxed) >> (page % 64) & 1; };
  for (int node = 0; node < nodes_; ++node) {
    for (size_t n = kFreeBuckets - 1; n > 0; --n) {
      for (Span* s = regions_[node].free[n]; s; s = s->next) {
        const size_t first = page_index(s->base);
        const size_t last = first + s->npages;
        size_t end = last;
        while (end > first && released(end - 1)) --end;
        if (end == first) continue;
        size_t begin = end;
        while (begin > first && !released(begin - 1) && end - begin < max_pages) --begin;
        // Only the stretch leaves the free lists: the rest of the run stays
        // there for allocations to cut meanwhile.
        remove_free(s);
        for (const auto& [from, to] : {std::pair{first, begin}, std::pair{end, last}}) {
          if (from == to) continue;
          Span* rest = new_span_record();
          rest->base = base_ + from * kHeapPageSize;
          rest->node = s->node;
          rest->npages = to - from;
          put_free(rest);
        }
        s->base = base_ + begin * kHeapPageSize;
        s->npages = end - begin;
        // Not free: no allocation cuts it, no freed neighbour merges with it,
        // no lookup finds an object in it; its edges name it for coalescing.
        s->state.store(SpanState::kInit, std::memory_order_relaxed);
        set_pages(s, begin, 1);
        set_pages(s, end - 1, 1);
        ++stretches_out_;
        return s;
      }
    }
  }
  return nullptr;
}

size_t Heap::scavenge(size_t bytes) {
  // A stretch is off the free lists while the kernel releases it: at most
  // this much at a time, since an allocation may wait for it.
  constexpr size_t kMaxStretchPages = (size_t(4) << 20) / kHeapPageSize;
  const size_t want = bytes / kHeapPageSize + (bytes % kHeapPageSize != 0);
  size_t pages = 0;
  while (pages < want) {
    // From taking a stretch to giving it back, never stopped by signal: an
    // allocation that waits for the stretch (alloc_span) cannot be stopped
    // either, and a stop of the world would wait for it for ever.
    internal::add_locks_held(1);
    Span* s;
    {
      internal::LockGuard l(lock_);
      s = take_unreleased(std::min(want - pages, kMaxStretchPages));
    }
    if (!s) {
      internal::add_locks_held(-1);
      break;
    }
    const size_t n = s->npages;
    internal::release_memory(reinterpret_cast<void*>(s->base), n * kHeapPageSize);
    {
      internal::LockGuard l(lock_);
      set_released(page_index(s->base), n, true);
      released_bytes_.fetch_add(n * kHeapPageSize, std::memory_order_relaxed);
      coalesce_and_put(s);
      --stretches_out_;
      stretches_returned_.fetch_add(1, std::memory_order_release);
    }
    internal::add_locks_held(-1);
    pages += n;
  }
  return pages * kHeapPageSize;
}

uintptr_t Heap::find_object(uintptr_t addr) const {
  const Span* s = span_of(addr);
  // Free pages hold no object; a stale entry may name a record that covers
  // other pages by now.
  if (!s || !s->in_use() || addr < s->base || addr >= s->limit()) return 0;
  const uintptr_t object = s->object_base(addr);
  if (object >= s->base + size_t(s->nelems) * s->elemsize) return 0;  // the span's unused tail
  return s->is_allocated(object) ? object : 0;
}

}  // namespace gort::gc
