#include <gtest/gtest.h>

#include <cstring>

#include "core/host_allocator.h"

TEST(HostCachingAllocator, SizeClassesWasteAtMostAQuarter) {
  EXPECT_EQ(byol::HostCachingAllocator::roundedSize(4096), 4096u);
  EXPECT_EQ(byol::HostCachingAllocator::roundedSize(4097), 8192u);
  for (size_t bytes : {70'000ul, 1'000'000ul, 123'456'789ul}) {
    const size_t rounded = byol::HostCachingAllocator::roundedSize(bytes);
    EXPECT_GE(rounded, bytes);
    EXPECT_LE(rounded, bytes + bytes / 4 + 4096);
  }
}

TEST(HostCachingAllocator, ReusesFreedBlocksOfTheSameClass) {
  byol::HostCachingAllocator allocator(64 << 20);
  void* first;
  {
    c10::DataPtr a = allocator.allocate(100'000);
    first = a.get();
    std::memset(a.get(), 1, 100'000);
    EXPECT_EQ(allocator.stats().mappedBlocks, 1);
  }
  EXPECT_GT(allocator.stats().cachedBytes, 0);
  c10::DataPtr b = allocator.allocate(99'000);  // same size class
  EXPECT_EQ(b.get(), first);
  EXPECT_EQ(allocator.stats().cachedBytes, 0);
  EXPECT_EQ(allocator.stats().mappedBlocks, 1);
}

TEST(HostCachingAllocator, ReturnsBlocksBeyondTheCacheLimit) {
  byol::HostCachingAllocator allocator(0);
  { c10::DataPtr a = allocator.allocate(1 << 20); }
  EXPECT_EQ(allocator.stats().cachedBytes, 0);
  EXPECT_EQ(allocator.stats().mappedBlocks, 0);
  { c10::DataPtr small = allocator.allocate(100); EXPECT_NE(small.get(), nullptr); }
  EXPECT_EQ(allocator.stats().allocatedBytes, 0);
}

TEST(HostCachingAllocator, ServesTensorsOnceInstalled) {
  byol::installHostAllocator();
  const auto before = byol::hostAllocator().stats().allocatedBytes;
  at::Tensor t = at::ones({1000, 100});
  EXPECT_GE(byol::hostAllocator().stats().allocatedBytes - before, 400'000);
  EXPECT_FLOAT_EQ(t.sum().item<float>(), 100'000.f);
  t.reset();
  EXPECT_EQ(byol::hostAllocator().stats().allocatedBytes, before);
}
