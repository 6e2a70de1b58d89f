#include "core/executor.h"

#include <utility>

namespace byol {

OrderedExecutor::OrderedExecutor() : worker_([this] { run(); }) {}

OrderedExecutor::~OrderedExecutor() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void OrderedExecutor::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(job));
    ++pending_;
  }
  wake_.notify_one();
}

void OrderedExecutor::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return pending_ == 0; });
}

int64_t OrderedExecutor::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_;
}

void OrderedExecutor::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
    job = nullptr;  // release what the job captured before reporting idle
    {
      std::lock_guard<std::mutex> lock(mutex_);
      --pending_;
    }
    idle_.notify_all();
  }
}

}  // namespace byol
