#include "core/executor.h"

#include <utility>

namespace byol {

namespace {

// A job should catch its own errors (the binding's Job keeps them for its Promise). One that does not must not
// end the process (std::terminate on the worker thread) nor leave drain() waiting for it forever: its exception
// is dropped and the worker goes on with the next job.
void runCatchingEverything(const std::function<void()>& f) noexcept {
  try {
    f();
  } catch (...) {
  }
}

}  // namespace

OrderedExecutor::OrderedExecutor() : worker_([this] { run(); }) {}

OrderedExecutor::~OrderedExecutor() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void OrderedExecutor::submit(std::function<void()> job, std::function<void()> afterDone) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (abandoned_) return;
    queue_.push_back(Entry{std::move(job), std::move(afterDone)});
    ++pending_;
  }
  wake_.notify_one();
}

void OrderedExecutor::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return pending_ == 0; });
}

bool OrderedExecutor::abandon(std::chrono::milliseconds wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  abandoned_ = true;
  pending_ -= static_cast<int64_t>(queue_.size());
  queue_.clear();
  idle_.notify_all();
  return idle_.wait_for(lock, wait, [this] { return !running_; });
}

int64_t OrderedExecutor::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_;
}

void OrderedExecutor::run() {
  for (;;) {
    Entry entry;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and nothing left
      entry = std::move(queue_.front());
      queue_.pop_front();
      running_ = true;
    }
    runCatchingEverything(entry.job);
    entry.job = nullptr;  // release what the job captured before reporting idle
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --pending_;
      running_ = false;
    }
    idle_.notify_all();
    if (entry.afterDone) runCatchingEverything(entry.afterDone);
  }
}

}  // namespace byol
