#include "core/host_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <cstdlib>
#include <string>
#include <new>

// Under AddressSanitizer, cached blocks are poisoned: ASan sees only malloc's memory, so without this a tensor
// read after its block went back to the cache (or written past its end, into the rounded-up tail) goes unseen.
#if defined(__SANITIZE_ADDRESS__)
#define BYOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BYOL_ASAN 1
#endif
#endif
#ifdef BYOL_ASAN
#include <sanitizer/asan_interface.h>
#define BYOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define BYOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define BYOL_POISON(p, n) ((void)(p), (void)(n))
#define BYOL_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace byol {
namespace {

// Mapped blocks handed out, by address, with their allocator and size: the deleter gets only the data
// pointer (LibTorch's raw_deallocate passes nothing else). Never destroyed, as the allocators.
struct LiveBlock {
  const HostCachingAllocator* owner;
  size_t size;
};
std::mutex& liveMutex() {
  static auto* m = new std::mutex();
  return *m;
}
std::unordered_map<void*, LiveBlock>& liveBlocks() {
  static auto* map = new std::unordered_map<void*, LiveBlock>();
  return *map;
}


}  // namespace

HostCachingAllocator::HostCachingAllocator(size_t cacheLimitBytes) : cacheLimit_(cacheLimitBytes) {}

size_t HostCachingAllocator::roundedSize(size_t bytes) {
  constexpr size_t kPage = 4096;
  if (bytes <= 64 * 1024) return (bytes + kPage - 1) / kPage * kPage;
  size_t power = 1;
  while (power * 2 <= bytes) power *= 2;
  const size_t step = power / 4;
  return (bytes + step - 1) / step * step;
}

c10::DataPtr HostCachingAllocator::allocate(size_t bytes) {
  const c10::Device cpu(c10::DeviceType::CPU);
  if (bytes == 0) return {nullptr, nullptr, &HostCachingAllocator::deletePointer, cpu};
  if (bytes < kSmallLimit) {
    void* p = nullptr;
    if (posix_memalign(&p, 64, bytes) != 0) throw std::bad_alloc();
    return {p, p, &HostCachingAllocator::deletePointer, cpu};
  }
  const size_t size = roundedSize(bytes);
  void* memory = takeBlock(size);
  BYOL_UNPOISON(memory, bytes);
  BYOL_POISON(static_cast<char*>(memory) + bytes, size - bytes);  // the rounded-up tail is out of bounds
  {
    std::lock_guard<std::mutex> lock(liveMutex());
    liveBlocks().emplace(memory, LiveBlock{this, size});
  }
  return {memory, memory, &HostCachingAllocator::deletePointer, cpu};
}

void HostCachingAllocator::deletePointer(void* data) {
  if (data == nullptr) return;
  LiveBlock block{nullptr, 0};
  {
    std::lock_guard<std::mutex> lock(liveMutex());
    auto it = liveBlocks().find(data);
    if (it != liveBlocks().end()) {
      block = it->second;
      liveBlocks().erase(it);
    }
  }
  if (block.owner == nullptr) {
    std::free(data);  // a small allocation from posix_memalign
    return;
  }
  block.owner->returnBlock(data, block.size);
}

void* HostCachingAllocator::takeBlock(size_t size) const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = freeBlocks_.find(size);
    if (it != freeBlocks_.end() && !it->second.empty()) {
      void* block = it->second.back();
      it->second.pop_back();
      stats_.cachedBytes -= static_cast<int64_t>(size);
      stats_.allocatedBytes += static_cast<int64_t>(size);
      return block;
    }
  }
  void* block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) {
    const_cast<HostCachingAllocator*>(this)->releaseCache();  // give back what we hold, then try once more
    block = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (block == MAP_FAILED) throw std::bad_alloc();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.allocatedBytes += static_cast<int64_t>(size);
  stats_.mappedBlocks += 1;
  return block;
}

void HostCachingAllocator::returnBlock(void* block, size_t size) const {
  BYOL_POISON(block, size);  // before another thread can take it from the cache
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.allocatedBytes -= static_cast<int64_t>(size);
    if (static_cast<size_t>(stats_.cachedBytes) + size <= cacheLimit_) {
      freeBlocks_[size].push_back(block);
      stats_.cachedBytes += static_cast<int64_t>(size);
      return;
    }
    stats_.mappedBlocks -= 1;
  }
  BYOL_UNPOISON(block, size);  // a later mapping at this address starts clean
  munmap(block, size);
}

HostAllocatorStats HostCachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void HostCachingAllocator::releaseCache() {
  std::unordered_map<size_t, std::vector<void*>> blocks;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    blocks.swap(freeBlocks_);
    for (const auto& [size, list] : blocks) stats_.mappedBlocks -= static_cast<int64_t>(list.size());
    stats_.cachedBytes = 0;
  }
  for (const auto& [size, list] : blocks) {
    for (void* block : list) {
      BYOL_UNPOISON(block, size);
      munmap(block, size);
    }
  }
}

HostCachingAllocator& hostAllocator() {
  static HostCachingAllocator* instance = [] {
    size_t limitMb = 1024;
    if (const char* env = std::getenv("BYOL_HOST_CACHE_MB")) {
      char* end = nullptr;
      const unsigned long long v = std::strtoull(env, &end, 10);
      if (end != env) limitMb = static_cast<size_t>(v);
    }
    return new HostCachingAllocator(limitMb * 1024 * 1024);
  }();
  return *instance;
}

void installHostAllocator() {
  static std::once_flag once;
  std::call_once(once, [] {
    // BYOL_HOST_ALLOCATOR=0 keeps LibTorch's default allocator (for comparisons: scripts/bench/host_allocator.mjs).
    const char* env = std::getenv("BYOL_HOST_ALLOCATOR");
    if (env != nullptr && std::string(env) == "0") return;
    c10::SetCPUAllocator(&hostAllocator(), /*priority=*/1);
  });
}

}  // namespace byol
