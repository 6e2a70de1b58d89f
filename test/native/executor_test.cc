#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/executor.h"
#include "core/runtime.h"

TEST(OrderedExecutor, RunsJobsInSubmissionOrder) {
  byol::OrderedExecutor executor;
  std::vector<int> order;
  for (int i = 0; i < 100; ++i) executor.submit([&order, i] { order.push_back(i); });
  executor.drain();
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_EQ(executor.pending(), 0);
}

TEST(OrderedExecutor, DrainWaitsForARunningJob) {
  byol::OrderedExecutor executor;
  std::atomic<bool> done{false};
  executor.submit([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    done = true;
  });
  executor.drain();
  EXPECT_TRUE(done.load());
}

TEST(OrderedExecutor, DestructorFinishesQueuedJobs) {
  std::atomic<int> ran{0};
  {
    byol::OrderedExecutor executor;
    for (int i = 0; i < 10; ++i) executor.submit([&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 10);
}

TEST(ThreadSettings, ApplyCarriesGradModeAndThreadsToAnotherThread) {
  const byol::ThreadSettings wanted{false, 2};
  byol::ThreadSettings seen;
  std::thread worker([&] {
    wanted.apply();
    seen = byol::ThreadSettings::current();
  });
  worker.join();
  EXPECT_FALSE(seen.gradEnabled);
  EXPECT_EQ(seen.numThreads, 2);
}

TEST(OrderedExecutor, AfterDoneRunsOnceTheJobIsNoLongerPending) {
  byol::OrderedExecutor executor;
  std::atomic<int64_t> pendingSeen{-1};
  std::atomic<bool> reported{false};
  executor.submit([] {}, [&] {
    pendingSeen = executor.pending();
    reported = true;
  });
  executor.drain();
  while (!reported) std::this_thread::yield();
  EXPECT_EQ(pendingSeen.load(), 0);
}

TEST(OrderedExecutor, AbandonDropsTheQueueWaitsForTheRunningJobAndRefusesNewOnes) {
  byol::OrderedExecutor executor;
  std::atomic<bool> started{false}, release{false};
  std::atomic<int> ran{0};
  executor.submit([&] {
    started = true;
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    ++ran;
  });
  for (int i = 0; i < 5; ++i) executor.submit([&] { ++ran; });
  while (!started) std::this_thread::yield();
  // The running job has not finished within the wait: abandon says so, and the queue is gone already.
  EXPECT_FALSE(executor.abandon(std::chrono::milliseconds(20)));
  EXPECT_EQ(executor.pending(), 1);
  release = true;
  EXPECT_TRUE(executor.abandon(std::chrono::seconds(10)));
  executor.submit([&] { ran += 100; });  // dropped: the process is exiting
  executor.drain();
  EXPECT_EQ(ran.load(), 1);
  EXPECT_EQ(executor.pending(), 0);
}
