#include "core/evaluation.h"

#include <gtest/gtest.h>

#include "core/errors.h"

namespace {

// Three well-separated Gaussian clusters in 8 dimensions: any sound classifier gets them all right.
struct Clusters {
  at::Tensor features, labels;
};

Clusters clusters(int64_t perClass, double noise, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const at::Tensor centres = at::eye(8, at::kFloat).slice(0, 0, 3) * 4.0;
  const at::Tensor labels = at::arange(3, at::kLong).repeat_interleave(perClass);
  const at::Tensor features = centres.index_select(0, labels) + at::randn({3 * perClass, 8}, gen) * noise;
  return {features, labels};
}

TEST(LinearProbe, SeparatesClusters) {
  const Clusters train = clusters(50, 0.5, 1), test = clusters(20, 0.5, 2);
  byol::LinearProbeOptions o;
  o.epochs = 30;
  o.batchSize = 32;
  o.lr = 0.05;
  const auto r = byol::linearProbe(train.features, train.labels, test.features, test.labels, o);
  EXPECT_GE(r.trainAccuracy, 0.99);
  EXPECT_GE(r.testAccuracy, 0.98);
  EXPECT_LT(r.finalLoss, 0.1);
}

TEST(LinearProbe, ChanceOnShuffledLabels) {
  // Labels unrelated to the features: test accuracy must stay near chance (1/3), which a leak of test labels
  // or an evaluation on the train split would not give.
  const Clusters train = clusters(200, 0.5, 3), test = clusters(200, 0.5, 4);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
  const at::Tensor shuffled = test.labels.index_select(0, at::randperm(600, gen, at::TensorOptions().dtype(at::kLong)));
  byol::LinearProbeOptions o;
  o.epochs = 10;
  const auto r = byol::linearProbe(train.features, train.labels, test.features, shuffled, o);
  EXPECT_NEAR(r.testAccuracy, 1.0 / 3.0, 0.08);
  EXPECT_GE(r.trainAccuracy, 0.9);
}

TEST(LinearProbe, SameSeedSameResult) {
  const Clusters train = clusters(30, 2.0, 6), test = clusters(30, 2.0, 7);
  byol::LinearProbeOptions o;
  o.epochs = 5;
  o.seed = 11;
  const auto a = byol::linearProbe(train.features, train.labels, test.features, test.labels, o);
  const auto b = byol::linearProbe(train.features, train.labels, test.features, test.labels, o);
  EXPECT_EQ(a.finalLoss, b.finalLoss);
  EXPECT_EQ(a.testAccuracy, b.testAccuracy);
}

TEST(Knn, MatchesBruteForceVote) {
  // Tiny case checked by hand: test point near class 1's two points, k = 2.
  const at::Tensor train = at::tensor({1.0f, 0.0f, 0.9f, 0.1f, 0.0f, 1.0f, 0.1f, 0.9f}).view({4, 2});
  const at::Tensor trainY = at::tensor({0, 0, 1, 1}, at::kInt);
  const at::Tensor test = at::tensor({0.2f, 1.0f, 1.0f, 0.05f, 0.5f, 0.52f}).view({3, 2});
  byol::KnnOptions o;
  o.k = 2;
  EXPECT_DOUBLE_EQ(byol::knnAccuracy(train, trainY, test, at::tensor({1, 0, 1}, at::kInt), o), 1.0);
  EXPECT_DOUBLE_EQ(byol::knnAccuracy(train, trainY, test, at::tensor({0, 1, 1}, at::kInt), o), 1.0 / 3.0);
}

TEST(Knn, ChunksDoNotChangeTheResult) {
  const Clusters train = clusters(40, 3.0, 8), test = clusters(33, 3.0, 9);
  byol::KnnOptions whole, chunked;
  chunked.chunk = 7;
  EXPECT_EQ(byol::knnAccuracy(train.features, train.labels, test.features, test.labels, whole),
            byol::knnAccuracy(train.features, train.labels, test.features, test.labels, chunked));
}

TEST(Evaluation, BadArgumentsNameTheArgument) {
  const Clusters train = clusters(5, 0.5, 1), test = clusters(5, 0.5, 2);
  auto expectMessage = [](auto&& call, const std::string& fragment) {
    try {
      call();
      FAIL() << "expected an error containing: " << fragment;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  expectMessage([&] { byol::knnAccuracy(train.features, train.labels, test.features.slice(1, 0, 4), test.labels); },
                "testFeatures: expected 8 columns");
  expectMessage([&] { byol::knnAccuracy(train.features, train.labels.slice(0, 1), test.features, test.labels); },
                "trainLabels: expected shape [15]");
  expectMessage([&] { byol::knnAccuracy(train.features, train.labels.to(at::kFloat), test.features, test.labels); },
                "trainLabels: expected an int32 or int64 tensor");
  expectMessage([&] { byol::knnAccuracy(train.features, train.labels - 1, test.features, test.labels); },
                "trainLabels: expected labels >= 0");
  byol::KnnOptions k;
  k.k = 16;
  expectMessage([&] { byol::knnAccuracy(train.features, train.labels, test.features, test.labels, k); },
                "k: expected an integer in [1, 15]");
  byol::LinearProbeOptions o;
  o.epochs = 0;
  expectMessage([&] { byol::linearProbe(train.features, train.labels, test.features, test.labels, o); },
                "epochs: expected a positive integer");
}

}  // namespace
