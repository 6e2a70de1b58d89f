// A caching allocator for CPU tensor memory, installed as LibTorch's CPU allocator by the addon.
//
// Why: in Node, every tensor handle also owns small native objects (its wrapper and a V8 reference) that live
// until the next garbage collection. With glibc malloc those small objects land between freed tensor blocks,
// the blocks can no longer be merged or reused for the next tensor, and RSS grows by hundreds of MB over a
// loop of create/dispose cycles even though every tensor was freed (measured: 10,000 cycles of two 16 KB
// tensors grew RSS by ~300 MB). Tensor memory here comes from its own mmap'd blocks, kept in size classes
// and reused, so it never interleaves with the JS runtime's allocations; reuse also skips the page faults of
// fresh memory in training loops. Small tensors (< 4 KiB) still use malloc.
#pragma once

#include <c10/core/Allocator.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace byol {

struct HostAllocatorStats {
  int64_t allocatedBytes = 0;  // handed out and not yet freed (block sizes)
  int64_t cachedBytes = 0;     // freed and kept for reuse
  int64_t mappedBlocks = 0;    // blocks currently mapped (in use or cached)
};

class HostCachingAllocator final : public c10::Allocator {
 public:
  // `cacheLimitBytes`: freed blocks beyond this are returned to the OS.
  explicit HostCachingAllocator(size_t cacheLimitBytes);

  c10::DataPtr allocate(size_t bytes) override;
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
  // LibTorch's raw_allocate/raw_deallocate (oneDNN convolution scratch memory) need a deleter that frees
  // from the data pointer alone, so every DataPtr's context is its data pointer and mapped blocks are
  // found by address.
  c10::DeleterFnPtr raw_deleter() const override { return &HostCachingAllocator::deletePointer; }

  HostAllocatorStats stats() const;
  // Returns every cached block to the OS.
  void releaseCache();

  // The size class a request is served from (exposed for tests): page multiples below 64 KiB, then steps of
  // a quarter of the power of two below, so at most 25% is wasted and sizes repeat across steps.
  static size_t roundedSize(size_t bytes);
  static constexpr size_t kSmallLimit = 4096;

 private:
  static void deletePointer(void* data);
  void* takeBlock(size_t size) const;
  void returnBlock(void* block, size_t size) const;

  size_t cacheLimit_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<size_t, std::vector<void*>> freeBlocks_;
  mutable HostAllocatorStats stats_;
};

// The process-wide instance, created on first use and never destroyed (tensors may outlive static destructors).
HostCachingAllocator& hostAllocator();
// Makes hostAllocator() LibTorch's CPU allocator (once; later calls do nothing), unless BYOL_HOST_ALLOCATOR=0.
// The cache limit comes from BYOL_HOST_CACHE_MB (default 1024).
void installHostAllocator();

}  // namespace byol
