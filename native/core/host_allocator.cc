#include "core/host_allocator.h"

#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <cstdlib>
#include <new>

namespace byol {
namespace {

// What a block's DataPtr context points to: enough to return it to its size class.
struct BlockHeader {
  const HostCachingAllocator* owner;
  void* memory;
  size_t size;
};

void deleteSmall(void* p) {
  std::free(p);
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

c10::DataPtr HostCachingAllocator::allocate(size_t bytes) const {
  const c10::Device cpu(c10::DeviceType::CPU);
  if (bytes == 0) return {nullptr, nullptr, &deleteSmall, cpu};
  if (bytes < kSmallLimit) {
    void* p = nullptr;
    if (posix_memalign(&p, 64, bytes) != 0) throw std::bad_alloc();
    return {p, p, &deleteSmall, cpu};
  }
  const size_t size = roundedSize(bytes);
  void* memory = takeBlock(size);
  auto* header = new BlockHeader{this, memory, size};
  return {memory, header, &HostCachingAllocator::deleteBlock, cpu};
}

void HostCachingAllocator::deleteBlock(void* context) {
  auto* header = static_cast<BlockHeader*>(context);
  header->owner->returnBlock(header->memory, header->size);
  delete header;
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
    for (void* block : list) munmap(block, size);
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
  std::call_once(once, [] { c10::SetCPUAllocator(&hostAllocator(), /*priority=*/1); });
}

}  // namespace byol
