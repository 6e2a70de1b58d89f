#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>

#include <atomic>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/ema.h"
#include "core/errors.h"
#include "core/host_allocator.h"

namespace {

using byol::detail::EmaCpuKernel;

// Largest rounding error one rounding to `type` can make, relative to the value (unit roundoff).
double unitRoundoff(at::ScalarType type) {
  switch (type) {
    case at::kDouble: return std::ldexp(1.0, -53);
    case at::kFloat: return std::ldexp(1.0, -24);
    case at::kHalf: return std::ldexp(1.0, -11);
    case at::kBFloat16: return std::ldexp(1.0, -8);
    default: return 0;
  }
}

// Below this magnitude a dtype's spacing is absolute (float16 subnormals).
double tinySpacing(at::ScalarType type) { return type == at::kHalf ? std::ldexp(1.0, -24) : 1e-300; }

// tau * t + (1 - tau) * s in float64 from the values the tensors actually hold.
at::Tensor reference(const at::Tensor& t, const at::Tensor& s, double tau) {
  return t.to(at::kDouble) * tau + s.to(at::kDouble) * (1.0 - tau);
}

// Every element within two roundings of the float64 reference (the kernel rounds once in float32 math and once
// to storage; the strided fallback may round tau * t to storage first).
void expectMatchesReference(const at::Tensor& result, const at::Tensor& t0, const at::Tensor& s0, double tau,
                            const std::string& what) {
  const at::Tensor ref = reference(t0, s0, tau);
  const double u = unitRoundoff(result.scalar_type());
  const at::Tensor bound = 2 * u * (ref.abs() + tau * t0.to(at::kDouble).abs() + (1 - tau) * s0.to(at::kDouble).abs()) +
                           tinySpacing(result.scalar_type());
  const at::Tensor excess = (result.to(at::kDouble) - ref).abs() - bound;
  const double worst = excess.numel() ? excess.max().item<double>() : -1;
  EXPECT_LE(worst, 0) << what << ": an element is off the float64 reference by " << worst << " beyond the bound";
}

at::Tensor randomTensor(std::vector<int64_t> shape, at::ScalarType type) {
  return at::randn(shape, at::kDouble).to(type);
}

std::vector<EmaCpuKernel> availableKernels() {
  std::vector<EmaCpuKernel> kernels{EmaCpuKernel::Default};
  if (byol::detail::emaCpuKernelAvailable(EmaCpuKernel::Avx2)) kernels.push_back(EmaCpuKernel::Avx2);
  return kernels;
}

const char* kernelName(EmaCpuKernel k) { return k == EmaCpuKernel::Avx2 ? "avx2" : "default"; }

// Restores the process-wide kernel choice and thread count after a test changes them.
struct KernelScope {
  EmaCpuKernel saved = byol::detail::emaCpuKernel();
  int threads = at::get_num_threads();
  ~KernelScope() {
    byol::detail::setEmaCpuKernel(saved);
    at::set_num_threads(threads);
  }
};

const std::vector<at::ScalarType> kDtypes{at::kFloat, at::kHalf, at::kBFloat16, at::kDouble};
const std::vector<int64_t> kSizes{1, 3, 1023, (int64_t{1} << 20) + 7};

std::string describeCase(at::ScalarType type, int64_t n, EmaCpuKernel k, double tau) {
  return byol::message(c10::toString(type), " n=", n, " kernel=", kernelName(k), " tau=", tau);
}

}  // namespace

TEST(Ema, MatchesFloat64ReferenceForEveryDtypeSizeAndKernel) {
  KernelScope scope;
  at::set_num_threads(2);
  at::manual_seed(1);
  for (EmaCpuKernel kernel : availableKernels()) {
    byol::detail::setEmaCpuKernel(kernel);
    for (double tau : {0.996, 0.5, 0.123}) {
      // One list mixing every dtype and size: one call, one parallel pass.
      std::vector<at::Tensor> targets, sources, t0, s0;
      for (at::ScalarType type : kDtypes) {
        for (int64_t n : kSizes) {
          targets.push_back(randomTensor({n}, type));
          sources.push_back(randomTensor({n}, type));
          t0.push_back(targets.back().clone());
          s0.push_back(sources.back().clone());
        }
      }
      byol::ema_(targets, sources, tau);
      size_t i = 0;
      for (at::ScalarType type : kDtypes) {
        for (int64_t n : kSizes) {
          expectMatchesReference(targets[i], t0[i], s0[i], tau, describeCase(type, n, kernel, tau));
          EXPECT_TRUE(at::equal(sources[i], s0[i])) << "sources are read only";
          ++i;
        }
      }
    }
  }
}

TEST(Ema, KernelsAndThreadCountsAgreeBitForBitOnFloat32) {
  // Chunks split tensors at arbitrary offsets; the result must not depend on where.
  KernelScope scope;
  at::manual_seed(2);
  std::vector<at::Tensor> base, sources;
  for (int64_t n : {5, 70001, 1, 33000, 129, 200003}) {
    base.push_back(randomTensor({n}, at::kFloat));
    sources.push_back(randomTensor({n}, at::kFloat));
  }
  auto run = [&](int threads) {
    at::set_num_threads(threads);
    std::vector<at::Tensor> targets;
    for (const auto& b : base) targets.push_back(b.clone());
    byol::ema_(targets, sources, 0.99);
    return targets;
  };
  const auto one = run(1);
  const auto two = run(2);
  for (size_t i = 0; i < base.size(); ++i) {
    EXPECT_TRUE(at::equal(one[i], two[i])) << "tensor " << i;
    expectMatchesReference(two[i], base[i], sources[i], 0.99, "split");
  }
}

TEST(Ema, NonContiguousAndMisalignedViews) {
  KernelScope scope;
  at::set_num_threads(2);
  at::manual_seed(3);
  for (EmaCpuKernel kernel : availableKernels()) {
    byol::detail::setEmaCpuKernel(kernel);
    for (at::ScalarType type : kDtypes) {
      const int64_t n = 4099;
      // Storage around the views, to see that nothing outside them is written.
      at::Tensor tStore = randomTensor({2 * n + 64}, type), sStore = randomTensor({2 * n + 64}, type);
      const at::Tensor tStore0 = tStore.clone();
      std::vector<at::Tensor> targets{
          tStore.narrow(0, 1, n),                               // misaligned by one element (flat path, unaligned)
          tStore.narrow(0, n + 3, 2 * 37).view({2, 37}).t(),    // transposed, same layout as its source (flat path)
          randomTensor({8, 5, 3, 3}, type).contiguous(at::MemoryFormat::ChannelsLast),  // channels-last pair
          randomTensor({40, 30}, type),                          // contiguous target, transposed source (fallback)
          randomTensor({64}, type).slice(0, 0, 64, 2),           // every other element (fallback)
      };
      std::vector<at::Tensor> sources{
          sStore.narrow(0, 2, n),                                // misaligned differently from its target
          sStore.narrow(0, 7, 2 * 37).view({2, 37}).t(),
          randomTensor({8, 5, 3, 3}, type).contiguous(at::MemoryFormat::ChannelsLast),
          randomTensor({30, 40}, type).t(),
          randomTensor({32}, type),
      };
      std::vector<at::Tensor> t0, s0;
      for (size_t i = 0; i < targets.size(); ++i) {
        t0.push_back(targets[i].clone());
        s0.push_back(sources[i].clone());
      }
      byol::ema_(targets, sources, 0.9);
      for (size_t i = 0; i < targets.size(); ++i) {
        expectMatchesReference(targets[i], t0[i], s0[i], 0.9,
                               byol::message(c10::toString(type), " view ", i, " kernel=", kernelName(kernel)));
      }
      // Storage outside the two views of tStore is untouched.
      EXPECT_TRUE(at::equal(tStore[0], tStore0[0]));
      EXPECT_TRUE(at::equal(tStore.narrow(0, n + 1, 2), tStore0.narrow(0, n + 1, 2)));
      EXPECT_TRUE(at::equal(tStore.narrow(0, n + 3 + 74, n - 13), tStore0.narrow(0, n + 3 + 74, n - 13)));
    }
  }
}

TEST(Ema, TauZeroCopiesAndTauOneKeepsExactly) {
  KernelScope scope;
  at::manual_seed(4);
  for (EmaCpuKernel kernel : availableKernels()) {
    byol::detail::setEmaCpuKernel(kernel);
    for (at::ScalarType type : kDtypes) {
      for (double tau : {0.0, 1.0}) {
        // Wide magnitudes: a + (b - a) style formulas lose the small operand; ours may not.
        const double scale = type == at::kHalf ? 1e3 : 1e20;
        std::vector<at::Tensor> targets{(randomTensor({1031}, type).to(at::kDouble) * scale).to(type),
                                        randomTensor({17, 9}, type).t()};  // second one takes the fallback
        std::vector<at::Tensor> sources{randomTensor({1031}, type) * 1e-3, randomTensor({9, 17}, type)};
        std::vector<at::Tensor> t0{targets[0].clone(), targets[1].clone()};
        byol::ema_(targets, sources, tau);
        for (size_t i = 0; i < targets.size(); ++i) {
          const at::Tensor& expected = tau == 0.0 ? sources[i] : t0[i];
          EXPECT_TRUE(at::equal(targets[i], expected))
              << c10::toString(type) << " tau=" << tau << " tensor " << i << " kernel=" << kernelName(kernel);
        }
      }
    }
  }
}

TEST(Ema, TargetsEndWithoutGradInPlaceWithVersionBumped) {
  at::Tensor target = at::randn({300}).set_requires_grad(true);
  at::Tensor strided = at::randn({10, 30}).t().set_requires_grad(true);  // a leaf view layout: fallback path
  at::Tensor source = at::randn({300}).set_requires_grad(true);
  at::Tensor source2 = at::randn({30, 10});
  const void* ptr = target.data_ptr();
  const auto version = target._version(), version2 = strided._version();
  byol::ema_({target, strided}, {source, source2}, 0.99);
  EXPECT_FALSE(target.requires_grad());
  EXPECT_FALSE(strided.requires_grad());
  EXPECT_TRUE(source.requires_grad()) << "sources keep their flag";
  EXPECT_EQ(target.data_ptr(), ptr) << "updated in place";
  EXPECT_GT(target._version(), version);
  EXPECT_GT(strided._version(), version2);
}

namespace {

// Counts CPU tensor allocations while installed; forwards to the allocator it replaced.
class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) {}
  c10::DataPtr allocate(size_t bytes) override {
    ++count;
    return inner_->allocate(bytes);
  }
  c10::DeleterFnPtr raw_deleter() const override { return inner_->raw_deleter(); }
  void copy_data(void* dest, const void* src, std::size_t n) const override { inner_->copy_data(dest, src, n); }
  mutable std::atomic<int> count{0};

 private:
  c10::Allocator* inner_;
};

}  // namespace

TEST(Ema, FlatPathAllocatesNoTensorMemory) {
  KernelScope scope;
  at::set_num_threads(2);
  std::vector<at::Tensor> targets, sources;
  for (at::ScalarType type : kDtypes) {
    for (int64_t n : kSizes) {
      targets.push_back(randomTensor({n}, type));
      sources.push_back(randomTensor({n}, type));
    }
  }
  targets.push_back(randomTensor({8, 5, 3, 3}, at::kFloat).contiguous(at::MemoryFormat::ChannelsLast));
  sources.push_back(randomTensor({8, 5, 3, 3}, at::kFloat).contiguous(at::MemoryFormat::ChannelsLast));
  byol::ema_(targets, sources, 0.99);  // first call: the segment table grows once
  // The addon's allocator (priority 1) underneath, as in production; the counter takes its place and gives
  // it back at the same priority, so the rest of the suite sees the same state in any order.
  byol::installHostAllocator();
  c10::Allocator* previous = c10::GetCPUAllocator();
  CountingAllocator counting(previous);
  c10::SetCPUAllocator(&counting, /*priority=*/1);
  for (int i = 0; i < 3; ++i) byol::ema_(targets, sources, 0.99);
  const at::Tensor probe = at::empty({16});  // the counter does count
  c10::SetCPUAllocator(previous, /*priority=*/1);
  EXPECT_EQ(counting.count.load(), 1) << "ema_ allocated tensor memory";
}

TEST(Ema, EmptyListsAndEmptyTensorsAreFine) {
  EXPECT_NO_THROW(byol::ema_({}, {}, 0.5));
  at::Tensor e = at::empty({0, 3});
  EXPECT_NO_THROW(byol::ema_({e}, {at::empty({0, 3})}, 0.5));
}

namespace {

// Runs ema_ on [good pair, bad pair] and expects error type E with `message`, and the good target unchanged.
template <typename E>
void expectRejected(at::Tensor badTarget, at::Tensor badSource, double tau, const std::string& message) {
  at::Tensor good = at::randn({4, 4});
  const at::Tensor good0 = good.clone();
  const at::Tensor bad0 = badTarget.defined() ? badTarget.clone() : at::Tensor();
  try {
    byol::ema_({good, badTarget}, {at::randn({4, 4}), badSource}, tau);
    ADD_FAILURE() << "expected an error: " << message;
  } catch (const E& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
  EXPECT_TRUE(at::equal(good, good0)) << "a rejected call changed a target: " << message;
  if (badTarget.defined()) {
    EXPECT_TRUE(at::equal(badTarget, bad0)) << "a rejected call changed a target: " << message;
  }
}

}  // namespace

TEST(Ema, RejectsBadInputBeforeWritingAnything) {
  using byol::RangeError;
  using byol::TypeError;
  expectRejected<RangeError>(at::zeros({2, 3}), at::zeros({3, 2}), 0.5,
                             "sources[1]: expected shape [2, 3] like targets[1], received [3, 2]");
  expectRejected<RangeError>(at::zeros({2}), at::zeros({2}, at::TensorOptions().device(at::kMeta)), 0.5,
                             "sources[1]: expected a tensor on cpu like targets[1], received one on meta");
  expectRejected<TypeError>(at::zeros({2}), at::zeros({2}, at::kHalf), 0.5,
                            "sources[1]: expected dtype float32 like targets[1], received float16");
  expectRejected<TypeError>(at::zeros({2}, at::kLong), at::zeros({2}, at::kLong), 0.5,
                            "targets[1]: expected a floating-point dtype (float32, float16, bfloat16 or float64), "
                            "received int64");
  expectRejected<TypeError>(at::zeros({2}), at::Tensor(), 0.5,
                            "sources[1]: expected a tensor, received an undefined tensor");
  expectRejected<RangeError>(at::zeros({1}).expand({4}), at::zeros({4}), 0.5,
                             "targets[1]: expected a writable tensor, received a view whose elements share memory "
                             "(an expanded tensor)");
  at::Tensor leaf = at::randn({3}).set_requires_grad(true);
  expectRejected<RangeError>(leaf * 2, at::zeros({3}), 0.5,
                             "targets[1]: expected a leaf tensor or one that does not require grad, received a "
                             "non-leaf tensor that requires grad");
  at::Tensor store = at::zeros({10});
  expectRejected<RangeError>(store.narrow(0, 0, 8), store.narrow(0, 1, 8), 0.5,
                             "sources[1]: expected memory that does not partly overlap targets[1], received a partly "
                             "overlapping view");
  for (double tau : {std::nan(""), -0.1, 1.5, std::numeric_limits<double>::infinity()}) {
    expectRejected<RangeError>(at::zeros({2}), at::zeros({2}), tau,
                               byol::message("tau: expected a number in [0, 1], received ", tau));
  }
  at::Tensor t = at::ones({2});
  try {
    byol::ema_({t, at::ones({2})}, {at::zeros({2})}, 0.5);
    ADD_FAILURE();
  } catch (const byol::RangeError& e) {
    EXPECT_STREQ(e.what(), "sources: expected as many tensors as targets (2), received 1");
  }
  EXPECT_TRUE(at::equal(t, at::ones({2})));
}

TEST(Ema, SameTensorAsTargetAndSourceIsAFixedPoint) {
  at::Tensor t = at::randn({100});
  const at::Tensor t0 = t.clone();
  byol::ema_({t}, {t}, 0.7);
  EXPECT_TRUE(at::allclose(t, t0, 1e-6, 1e-7));
}

TEST(CopyInto, CopiesEveryDtypeAndChecksFirst) {
  at::Tensor mean = at::zeros({4}), count = at::scalar_tensor(0, at::kLong);
  byol::copyInto_({mean, count}, {at::arange(4, at::kFloat), at::scalar_tensor(7, at::kLong)});
  EXPECT_TRUE(at::equal(mean, at::arange(4, at::kFloat)));
  EXPECT_EQ(count.item<int64_t>(), 7);
  try {
    byol::copyInto_({mean, count}, {at::ones({4}), at::ones({2}, at::kLong)});
    ADD_FAILURE();
  } catch (const byol::RangeError& e) {
    EXPECT_STREQ(e.what(), "sources[1]: expected shape [] like targets[1], received [2]");
  }
  EXPECT_TRUE(at::equal(mean, at::arange(4, at::kFloat))) << "nothing copied when a later pair is bad";
}

TEST(EmaCuda, MatchesTheCpuKernel) {
  if (!at::hasCUDA() || at::getNumGPUs() == 0) {
    GTEST_SKIP() << "no CUDA device here (LibTorch CUDA: " << at::hasCUDA() << "); runs on a GPU machine";
  }
  ASSERT_TRUE(byol::detail::emaHasCudaKernel()) << "a CUDA LibTorch build must link native/core/ema_cuda.cu";
  at::manual_seed(5);
  const at::Device cuda(at::kCUDA, 0);
  std::vector<at::Tensor> targets, sources, cpuTargets, cpuSources;
  // More than one launch (kSpansPerLaunch = 128), every dtype, odd sizes, misaligned views.
  for (int i = 0; i < 450; ++i) {  // 150 per dtype: two launches per group
    const at::ScalarType type = kDtypes[i % 3];
    const int64_t n = i == 7 ? (int64_t{1} << 22) + 5 : 1 + (i * 7919) % 5000;
    at::Tensor t = randomTensor({n + 1}, type), s = randomTensor({n + 2}, type);
    const bool misaligned = i % 4 == 1;
    cpuTargets.push_back(misaligned ? t.narrow(0, 1, n) : t.narrow(0, 0, n));
    cpuSources.push_back(misaligned ? s.narrow(0, 2, n) : s.narrow(0, 0, n));
    targets.push_back(t.to(cuda).narrow(0, misaligned ? 1 : 0, n));
    sources.push_back(s.to(cuda).narrow(0, misaligned ? 2 : 0, n));
  }
  std::vector<at::Tensor> t0;
  for (const auto& t : cpuTargets) t0.push_back(t.clone());
  byol::ema_(targets, sources, 0.996);
  for (size_t i = 0; i < targets.size(); ++i) {
    expectMatchesReference(targets[i].cpu(), t0[i], cpuSources[i], 0.996, byol::message("cuda tensor ", i));
  }
  byol::ema_(targets, sources, 0.0);
  for (size_t i = 0; i < targets.size(); ++i) EXPECT_TRUE(at::equal(targets[i], sources[i])) << i;
}
