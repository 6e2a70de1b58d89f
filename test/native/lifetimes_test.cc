// Lifetimes around the ordered executor (native/core/executor.h) and the learner (native/core/learner.h), the
// cases the binding relies on when JS code disposes things, throws, or runs two environments at once:
//   - a job that throws leaves the executor running the jobs after it;
//   - destroying the executor with jobs queued runs them all, in order, and releases what they captured;
//   - two learners stepping at once on two threads give exactly what stepping them one after the other gives;
//   - a tensor or module released by its owner while a job holds it stays valid until the job ends, and the
//     job's hold ends before drain() returns.
// These run in the sanitizer build too (npm run test:sanitize), where a premature free is a heap-use-after-free.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/augment.h"
#include "core/executor.h"
#include "core/host_allocator.h"
#include "core/layers.h"
#include "core/learner.h"
#include "core/optim.h"
#include "core/runtime.h"

namespace byol {
namespace {

using namespace std::chrono_literals;

// Long enough for a loaded 2-core machine running the sanitized build; a hang fails here instead of stalling.
constexpr auto kDeadline = 60s;

// A one-shot gate a job waits at, so the test decides when the job proceeds.
class Gate {
 public:
  void open() { opened_.set_value(); }
  void wait() const { opening_.wait(); }

 private:
  std::promise<void> opened_;
  std::shared_future<void> opening_ = opened_.get_future().share();
};

// Two threads meet here before each goes on: reusable, one meeting after another.
class Rendezvous {
 public:
  void meet() {
    std::unique_lock<std::mutex> lock(mutex_);
    const int64_t meeting = meeting_;
    if (++arrived_ == 2) {
      arrived_ = 0;
      ++meeting_;
      met_.notify_all();
    } else {
      met_.wait(lock, [&] { return meeting_ != meeting; });
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable met_;
  int arrived_ = 0;
  int64_t meeting_ = 0;
};

// Polls `done` until it holds or the deadline passes.
template <typename Predicate>
bool eventually(Predicate done) {
  const auto end = std::chrono::steady_clock::now() + kDeadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// --- a job that throws -----------------------------------------------------------------------------------------

// The binding's jobs catch their own errors (binding/async_job.cc), but an exception that escapes a job must not
// end the process (DESIGN.md: nothing may abort it), nor leave drain() waiting for a job that will never finish.
// Before the executor caught escaping exceptions, the worker thread's std::terminate took the whole test binary
// down; the scenario runs in a child process (a gtest death test) so that such a regression fails this test
// alone. The child checks with deadlines rather than drain(), which would hang if `pending` were never reduced.
int runThrowingJobScenario() {
  int failures = 0;
  const auto check = [&](bool ok, const char* what) {
    if (!ok) {
      std::fprintf(stderr, "FAILED: %s\n", what);
      ++failures;
    }
  };
  {
    OrderedExecutor executor;
    std::atomic<bool> throwerReported{false}, nextRan{false}, nextReported{false};
    executor.submit([] { throw std::runtime_error("a job that throws"); }, [&] { throwerReported = true; });
    executor.submit([&] { nextRan = true; }, [&] { nextReported = true; });
    check(eventually([&] { return nextRan.load(); }), "the job after the throwing one runs");
    check(eventually([&] { return executor.pending() == 0; }), "no job is left pending");
    // The worker ran the throwing job's afterDone before it started the next job.
    check(throwerReported.load(), "the throwing job's afterDone runs (the binding settles its Promise there)");
    check(eventually([&] { return nextReported.load(); }), "the next job's afterDone runs");
    // The executor stays usable after it: a job submitted later runs too.
    std::atomic<bool> laterRan{false};
    executor.submit([&] { laterRan = true; });
    check(eventually([&] { return laterRan.load(); }), "a job submitted afterwards runs");
  }
  return failures;
}

TEST(ExecutorLifetime, AJobThatThrowsLeavesTheExecutorRunningTheNextJobs) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");  // the child re-executes the binary: no fork of our threads
  EXPECT_EXIT(std::exit(runThrowingJobScenario()), ::testing::ExitedWithCode(0), "");
}

// --- destroying the executor with jobs queued ------------------------------------------------------------------

// executor.h promises that the destructor "finishes queued jobs, then joins the worker". Here it is destroyed
// while its first job is still running and 50 more are queued, each holding a tensor; the destructor must run
// every job in order, report each one, and leave no tensor held. The destruction runs on its own thread with a
// deadline, so a hang fails the test; the state it touches is shared-owned, so a hung thread may be detached.
TEST(ExecutorLifetime, DestroyingItWithJobsQueuedRunsThemInOrderAndReleasesTheirCaptures) {
  constexpr int kQueued = 50;
  struct Shared {
    std::unique_ptr<OrderedExecutor> executor = std::make_unique<OrderedExecutor>();
    Gate firstJobMayFinish;
    std::promise<void> firstJobStarted;
    std::mutex mutex;
    std::promise<void> destroyed;
    std::vector<int> ran;
    double sumRead = 0;
    int reported = 0;
  };
  auto shared = std::make_shared<Shared>();
  const at::Tensor held = at::ones({16});
  const int64_t usersBefore = held.use_count();

  shared->executor->submit([s = shared.get()] {
    s->firstJobStarted.set_value();
    s->firstJobMayFinish.wait();
  });
  for (int i = 0; i < kQueued; ++i) {
    shared->executor->submit(
        [s = shared.get(), i, held] {
          std::lock_guard<std::mutex> lock(s->mutex);
          s->ran.push_back(i);
          s->sumRead += held.sum().item<double>();  // the tensor it holds is still there to read
        },
        [s = shared.get()] {
          std::lock_guard<std::mutex> lock(s->mutex);
          ++s->reported;
        });
  }
  ASSERT_EQ(shared->firstJobStarted.get_future().wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(held.use_count(), usersBefore + kQueued) << "each queued job holds the tensor";

  auto destroyed = shared->destroyed.get_future();
  std::thread destroyer([shared] {
    shared->executor.reset();
    shared->destroyed.set_value();
  });
  // Let the destructor reach its join while the first job still runs, then let the job finish.
  std::this_thread::sleep_for(50ms);
  shared->firstJobMayFinish.open();
  if (destroyed.wait_for(kDeadline) != std::future_status::ready) {
    destroyer.detach();
    FAIL() << "the executor's destructor did not return with " << kQueued << " jobs queued";
  }
  destroyer.join();

  ASSERT_EQ(shared->ran.size(), static_cast<size_t>(kQueued));
  for (int i = 0; i < kQueued; ++i) EXPECT_EQ(shared->ran[i], i);
  EXPECT_EQ(shared->sumRead, 16.0 * kQueued);
  EXPECT_EQ(shared->reported, kQueued);
  EXPECT_EQ(held.use_count(), usersBefore) << "every job released the tensor it held";
}

// --- a tensor or module released by its owner while a job holds it -------------------------------------------

// The binding copies tensors into a job (refcounted at::Tensor copies), so a JS tensor disposed meanwhile stays
// valid for the job. Here the owner drops its handle while the job waits, then allocates and scribbles over
// tensors of the same size: with the caching host allocator a prematurely freed block would be handed out again
// (and the job would read the scribbles); with malloc, ASan reports the job's read (in this file's instrumented
// code, not in LibTorch's) as a heap-use-after-free.
// And the executor drops the job, with its captures, before drain() returns (what lets the binding count
// storage honestly): the weak reference has expired right after drain().
TEST(JobLifetime, ATensorReleasedByItsOwnerStaysValidUntilTheJobEnds) {
  installHostAllocator();  // as the addon does; the test holds with either allocator
  OrderedExecutor executor;
  constexpr int64_t kFloats = 1 << 14;  // 64 KiB: served by the caching allocator's blocks, not by malloc
  at::Tensor owner = at::arange(kFloats, at::kFloat);
  const at::Tensor expected = owner.clone();
  c10::weak_intrusive_ptr<c10::TensorImpl> watch(owner.getIntrusivePtr());

  Gate ownerReleased;
  bool sawOriginal = false;
  executor.submit([&ownerReleased, &sawOriginal, &expected, held = owner] {
    ownerReleased.wait();
    const float* data = held.data_ptr<float>();
    sawOriginal = std::equal(data, data + kFloats, expected.data_ptr<float>());
  });
  owner.reset();
  std::vector<at::Tensor> scribbles;
  for (int i = 0; i < 4; ++i) scribbles.push_back(at::full({kFloats}, -1.0f));
  ownerReleased.open();
  executor.drain();

  EXPECT_TRUE(sawOriginal) << "the job read the tensor's original values after its owner released it";
  EXPECT_TRUE(watch.expired()) << "the job's copy was released before drain() returned";
}

TEST(JobLifetime, AModuleReleasedByItsOwnerStaysValidUntilTheJobEnds) {
  OrderedExecutor executor;
  torch::manual_seed(3);
  torch::nn::AnyModule owner = makeLinear(8, 4, true);
  const at::Tensor input = at::rand({2, 8});
  const at::Tensor expected = owner.forward(input).detach();
  std::weak_ptr<torch::nn::Module> watch = owner.ptr();

  Gate ownerReleased;
  at::Tensor seen;
  executor.submit([&ownerReleased, &seen, &input, held = owner]() mutable {
    ownerReleased.wait();
    at::NoGradGuard noGrad;
    seen = held.forward(input);
  });
  owner = torch::nn::AnyModule();
  ownerReleased.open();
  executor.drain();

  ASSERT_TRUE(seen.defined());
  EXPECT_TRUE(seen.equal(expected)) << "the job ran the module its owner released";
  EXPECT_TRUE(watch.expired()) << "the job's copy was released before drain() returned";
}

// --- two learners at once --------------------------------------------------------------------------------------

// Two Node environments (the main thread and a worker_thread) each have an executor, so two learners may step
// at the same time. Nothing in a step may be shared between learners (a static buffer, a global generator, the
// thread-local grad mode leaking across): two learners stepped at once on two executors must end bit for bit
// where the same two learners end when stepped one after the other on one executor. The learners differ
// (weights, images, seeds), so cross-talk would show as a difference. Each step augments its views from the
// raw batch, so the augmentation core runs concurrently too.
constexpr int64_t kSteps = 12, kImages = 4, kSide = 8, kRepresentation = 6;

struct TrainingRun {
  std::unique_ptr<Learner> learner;
  std::unique_ptr<Optimizer> optimizer;
  std::vector<at::Tensor> batches;  // made up front: nothing draws from the global generator while jobs run
  std::vector<at::Tensor> losses;
  std::string error;  // a step that threw (kept, so that the test reports it instead of the executor)
};

std::unique_ptr<TrainingRun> makeRun(uint64_t seed) {
  torch::manual_seed(seed);
  auto encoder = makeSequential({makeFlatten(1, -1), makeLinear(3 * kSide * kSide, kRepresentation, true)});
  LearnerOptions options;
  options.projectionSize = 4;
  options.projectionHiddenSize = 8;
  options.decaySchedule = DecaySchedule::Constant;
  options.movingAverageDecay = 0.9;
  auto run = std::make_unique<TrainingRun>();
  run->learner = std::make_unique<Learner>(encoder, kRepresentation, options);
  run->learner->train(true);
  std::vector<at::Tensor> params;
  for (const auto& [name, p] : run->learner->onlineParameters()) params.push_back(p);
  OptimizerOptions adam;
  adam.lr = 0.01;
  run->optimizer = std::make_unique<Optimizer>(OptimizerKind::Adam, adam, params);
  for (int64_t s = 0; s < kSteps; ++s) run->batches.push_back(at::rand({kImages, 3, kSide, kSide}));
  return run;
}

// Queues `run`'s steps on `executor`, each with the grad mode and thread count of the test's thread (as a job
// carries them) and its own augmentation seeds. With `together`, every step first waits for the other learner's
// step of the same index, so the two really run at the same time however the threads are scheduled.
void submitSteps(OrderedExecutor& executor, TrainingRun& run, uint64_t seed, Rendezvous* together = nullptr) {
  const ThreadSettings settings = ThreadSettings::current();
  for (int64_t s = 0; s < kSteps; ++s) {
    executor.submit([&run, settings, seed, s, together] {
      if (together != nullptr) together->meet();
      try {
        settings.apply();
        AugmentOptions view;
        view.blurKernel = 3;
        StepOptions options;
        options.lr = 0.01;
        const uint64_t seed1 = seed + 2 * s, seed2 = seed1 + 1;
        const StepInput input = StepInput::augmenting(run.batches[s], view, seed1, view, seed2);
        run.losses.push_back(run.learner->step(input, *run.optimizer, options).metrics.clone());
      } catch (const std::exception& e) {
        if (run.error.empty()) run.error = e.what();
      }
    });
  }
}

void expectSameTraining(TrainingRun& together, TrainingRun& alone, const char* which) {
  ASSERT_EQ(alone.error, "") << which;
  ASSERT_EQ(together.error, "") << which;
  ASSERT_EQ(together.losses.size(), alone.losses.size()) << which;
  for (size_t s = 0; s < alone.losses.size(); ++s)
    EXPECT_TRUE(together.losses[s].equal(alone.losses[s])) << which << " step " << s;
  const auto compare = [&](const NamedTensors& a, const NamedTensors& b) {
    ASSERT_EQ(a.size(), b.size()) << which;
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i].second.equal(b[i].second)) << which << " " << a[i].first;
  };
  compare(together.learner->onlineParameters(), alone.learner->onlineParameters());
  compare(together.learner->targetParameters(), alone.learner->targetParameters());
  EXPECT_EQ(together.learner->emaUpdates(), kSteps) << which;
}

TEST(LearnerLifetime, TwoLearnersSteppingAtOnceMatchSteppingThemOneAfterTheOther) {
  constexpr uint64_t kSeedA = 100, kSeedB = 200;
  auto aloneA = makeRun(kSeedA), aloneB = makeRun(kSeedB);
  auto togetherA = makeRun(kSeedA), togetherB = makeRun(kSeedB);
  {
    OrderedExecutor one;
    submitSteps(one, *aloneA, kSeedA);
    submitSteps(one, *aloneB, kSeedB);
    one.drain();
  }
  {
    Rendezvous stepTogether;
    OrderedExecutor first, second;
    submitSteps(first, *togetherA, kSeedA, &stepTogether);
    submitSteps(second, *togetherB, kSeedB, &stepTogether);
    first.drain();
    second.drain();
  }
  expectSameTraining(*togetherA, *aloneA, "learner A");
  expectSameTraining(*togetherB, *aloneB, "learner B");
  // The two learners really differ, so the comparison above could see cross-talk.
  EXPECT_FALSE(aloneA->losses.back().equal(aloneB->losses.back()));
}

}  // namespace
}  // namespace byol
