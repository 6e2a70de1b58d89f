// linearProbe / knnAccuracy: frozen-feature evaluations (core/evaluation.h) as jobs on the executor.
#include "binding/evaluation.h"

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/errors.h"
#include "binding/tensor.h"
#include "core/evaluation.h"

namespace byol::binding {
namespace {

struct Splits {
  at::Tensor trainFeatures, trainLabels, testFeatures, testLabels;
};

Splits splitsArg(const Napi::CallbackInfo& info) {
  return {Tensor::unwrap(info[0], "trainFeatures"), Tensor::unwrap(info[1], "trainLabels"),
          Tensor::unwrap(info[2], "testFeatures"), Tensor::unwrap(info[3], "testLabels")};
}

// linearProbe(trainFeatures, trainLabels, testFeatures, testLabels, { epochs, batchSize, lr, weightDecay, seed })
//   -> Promise<{ trainAccuracy, testAccuracy, finalLoss }>
Napi::Value linearProbe(const Napi::CallbackInfo& info) {
  Splits s = splitsArg(info);
  LinearProbeOptions o;
  o.epochs = intOption(info[4], "epochs", o.epochs);
  o.batchSize = intOption(info[4], "batchSize", o.batchSize);
  o.lr = numberOption(info[4], "lr", o.lr);
  o.weightDecay = numberOption(info[4], "weightDecay", o.weightDecay);
  o.seed = static_cast<uint64_t>(intOption(info[4], "seed", 0));
  checkEvaluationArgs(s.trainFeatures, s.trainLabels, s.testFeatures, s.testLabels);
  checkLinearProbeOptions(o);
  return runJob<LinearProbeResult>(
      info.Env(), [s, o] { return byol::linearProbe(s.trainFeatures, s.trainLabels, s.testFeatures, s.testLabels, o); },
      [](Napi::Env env, const LinearProbeResult& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        out.Set("trainAccuracy", r.trainAccuracy);
        out.Set("testAccuracy", r.testAccuracy);
        out.Set("finalLoss", r.finalLoss);
        return out;
      });
}

// knnAccuracy(trainFeatures, trainLabels, testFeatures, testLabels, { k, temperature }) -> Promise<number>
Napi::Value knnAccuracy(const Napi::CallbackInfo& info) {
  Splits s = splitsArg(info);
  KnnOptions o;
  o.k = intOption(info[4], "k", o.k);
  o.temperature = numberOption(info[4], "temperature", o.temperature);
  checkEvaluationArgs(s.trainFeatures, s.trainLabels, s.testFeatures, s.testLabels);
  checkKnnOptions(o, s.trainFeatures.size(0));
  return runJob<double>(
      info.Env(), [s, o] { return byol::knnAccuracy(s.trainFeatures, s.trainLabels, s.testFeatures, s.testLabels, o); },
      [](Napi::Env env, double accuracy) -> Napi::Value { return Napi::Number::New(env, accuracy); });
}

}  // namespace

void InitEvaluation(Napi::Env env, Napi::Object exports) {
  exports.Set("linearProbe", Napi::Function::New<guardedFunction<linearProbe>>(env, "linearProbe"));
  exports.Set("knnAccuracy", Napi::Function::New<guardedFunction<knnAccuracy>>(env, "knnAccuracy"));
}

}  // namespace byol::binding
