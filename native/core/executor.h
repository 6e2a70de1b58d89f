// The ordered executor: one worker thread that runs jobs in the order they were submitted.
//
// Why one ordered thread: jobs of a training step touch the same tensors and modules (forward, backward,
// optimizer, EMA), and program order is then kept for free; LibTorch parallelises inside each op
// (intra-op threads), so a second job thread would only compete for the same cores.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace byol {

class OrderedExecutor {
 public:
  OrderedExecutor();
  ~OrderedExecutor();  // finishes queued jobs, then joins the worker
  OrderedExecutor(const OrderedExecutor&) = delete;
  OrderedExecutor& operator=(const OrderedExecutor&) = delete;

  // Queues `job`; it runs after every job submitted before it. Jobs should catch their own errors: an exception
  // that escapes `job` or `afterDone` is dropped, and the jobs after it run (test/native/lifetimes_test.cc).
  // `afterDone` runs on the worker once the job no longer counts as pending (drain() may already have
  // returned): the place to report completion, so that whoever hears of it never still sees it pending.
  void submit(std::function<void()> job, std::function<void()> afterDone = {});

  // Blocks until every job submitted so far has finished.
  void drain();

  // Jobs queued or running.
  int64_t pending() const;

  // For a process that is exiting: drops the queued jobs (they never run) and waits up to `wait` for the job in
  // flight. Returns whether the worker is idle; after it, submit() drops what it is given. Why: exit() destroys
  // static objects (LibTorch's, the allocators') that a job still running on the worker would then use.
  bool abandon(std::chrono::milliseconds wait);

 private:
  void run();

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  struct Entry {
    std::function<void()> job;
    std::function<void()> afterDone;
  };
  std::deque<Entry> queue_;
  int64_t pending_ = 0;
  bool stopping_ = false;
  bool abandoned_ = false;
  bool running_ = false;  // a job is executing on the worker
  std::thread worker_;
};

}  // namespace byol
