// NativeProcessGroup and initProcessGroup (JS arguments documented per method as `name: JS type`).
//
// Joining blocks until every rank has joined, so it runs as a job (the event loop stays free); so does every
// collective, in submission order with the training jobs, which keeps each rank's collectives in program order.
#include "binding/distributed.h"

#include <cmath>

#include "binding/args.h"
#include "binding/async_job.h"
#include "binding/env_state.h"
#include "binding/errors.h"
#include "binding/tensor.h"
#include "core/data_parallel.h"
#include "core/errors.h"
#include "core/process_group.h"

namespace byol::binding {
namespace {

ProcessGroupOptions processGroupOptions(const Napi::Value& o) {
  BYOL_EXPECT_TYPE(o.IsObject() && !o.IsArray(), "options: expected { rank, worldSize, masterAddr, masterPort, ... }, received ",
                   describe(o));
  ProcessGroupOptions options;
  options.rank = intOption(o, "rank", -1);
  options.worldSize = intOption(o, "worldSize", 0);
  options.masterAddr = stringOption(o, "masterAddr", options.masterAddr);
  options.masterPort = intOption(o, "masterPort", options.masterPort);
  options.agentStore = boolOption(o, "agentStore", options.agentStore);
  options.storePrefix = stringOption(o, "storePrefix", options.storePrefix);
  options.storePath = stringOption(o, "storePath", options.storePath);
  options.interface = stringOption(o, "interface", options.interface);
  const double timeoutMs = numberOption(o, "timeoutMs", static_cast<double>(options.timeout.count()));
  BYOL_EXPECT_RANGE(timeoutMs >= 1 && std::isfinite(timeoutMs), "timeoutMs: expected a positive number, received ",
                    timeoutMs);
  options.timeout = std::chrono::milliseconds(static_cast<int64_t>(timeoutMs));
  options.validate();
  return options;
}

std::vector<double> numbersArg(const Napi::Value& v, const char* name) {
  BYOL_EXPECT_TYPE(v.IsArray(), name, ": expected an array of numbers, received ", describe(v));
  const auto array = v.As<Napi::Array>();
  std::vector<double> out;
  for (uint32_t i = 0; i < array.Length(); ++i) out.push_back(numberArg(array.Get(i), name));
  BYOL_EXPECT_RANGE(!out.empty(), name, ": expected at least one number");
  return out;
}

Napi::Value numbersValue(Napi::Env env, const std::vector<double>& values) {
  auto out = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); ++i) out.Set(static_cast<uint32_t>(i), values[i]);
  return out;
}

class NativeProcessGroup : public Napi::ObjectWrap<NativeProcessGroup> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeProcessGroup",
                       {
                           InstanceMethod<&NativeProcessGroup::guarded<&NativeProcessGroup::rank>>("rank"),
                           InstanceMethod<&NativeProcessGroup::guarded<&NativeProcessGroup::worldSize>>("worldSize"),
                           InstanceMethod<&NativeProcessGroup::guarded<&NativeProcessGroup::barrier>>("barrier"),
                           InstanceMethod<&NativeProcessGroup::guarded<&NativeProcessGroup::broadcast>>("broadcast"),
                           InstanceMethod<&NativeProcessGroup::guarded<&NativeProcessGroup::allReduceSum>>("allReduceSum"),
                           InstanceMethod<&NativeProcessGroup::guarded<&NativeProcessGroup::stats>>("stats"),
                           InstanceMethod<&NativeProcessGroup::guarded<&NativeProcessGroup::allReduceTensor>>("allReduceTensor"),
                           InstanceMethod<&NativeProcessGroup::guarded<&NativeProcessGroup::averageGradients>>("averageGradients"),
                       });
  }

  // Not constructible from JS: initProcessGroup() makes them.
  explicit NativeProcessGroup(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeProcessGroup>(info) {}

  static Napi::Value wrap(Napi::Env env, std::shared_ptr<ProcessGroup> group) {
    Napi::Object object = EnvState::of(env).processGroupConstructor.New({});
    Unwrap(object)->group_ = std::move(group);
    return object;
  }

  std::shared_ptr<ProcessGroup> group() const { return group_; }

  // Every method's first line: an object made with `new` from JS holds no group.
  ProcessGroup& joined() const {
    BYOL_EXPECT_TYPE(group_ != nullptr, "this: expected a process group from initProcessGroup()");
    return *group_;
  }

  BYOL_GUARDED_METHODS(NativeProcessGroup)

 private:
  Napi::Value rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(joined().rank())); }
  Napi::Value worldSize(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(joined().worldSize()));
  }

  // barrier() -> Promise<void>
  Napi::Value barrier(const Napi::CallbackInfo& info) {
    joined();
    auto group = group_;
    return runVoidJob(info.Env(), [group] { group->barrier(); });
  }

  // broadcast(values: number[]) -> Promise<number[]>: rank 0's values (float64) on every rank.
  Napi::Value broadcast(const Napi::CallbackInfo& info) {
    return collective(info, "values", [](ProcessGroup& g, at::Tensor& t) { g.broadcast(t, 0); });
  }

  // allReduceSum(values: number[]) -> Promise<number[]>: the element-wise sum over the ranks (float64).
  Napi::Value allReduceSum(const Napi::CallbackInfo& info) {
    return collective(info, "values", [](ProcessGroup& g, at::Tensor& t) { g.allReduceSum(t); });
  }

  // stats() -> { calls, bytes, milliseconds }: collectives since the group was made (waits for queued jobs).
  Napi::Value stats(const Napi::CallbackInfo& info) {
    EnvState::of(info.Env()).drain();
    const CollectiveStats s = joined().stats();
    auto out = Napi::Object::New(info.Env());
    out.Set("calls", double(s.calls));
    out.Set("bytes", double(s.bytes));
    out.Set("milliseconds", s.milliseconds);
    return out;
  }

  // allReduceTensor(tensor: Tensor) -> Promise<void>: the sum over the ranks, in place (a contiguous CPU tensor).
  Napi::Value allReduceTensor(const Napi::CallbackInfo& info) {
    joined();
    at::Tensor t = Tensor::unwrapQueued(info[0], "tensor");
    auto group = group_;
    return runVoidJob(info.Env(), [group, t]() mutable {
      at::NoGradGuard noGrad;
      group->allReduceSum(t);
    });
  }

  // averageGradients(parameters: Tensor[], bucketBytes?: number) -> Promise<void>: each parameter's gradient
  // replaced by its mean over the ranks, in flat buckets (what a data-parallel learner step does), for loops
  // written by hand. The buckets are planned once per parameter list and bucket size, and reused.
  Napi::Value averageGradients(const Napi::CallbackInfo& info) {
    joined();
    BYOL_EXPECT_TYPE(info[0].IsArray(), "parameters: expected an array of Tensors, received ", describe(info[0]));
    const auto array = info[0].As<Napi::Array>();
    std::vector<at::Tensor> parameters;
    for (uint32_t i = 0; i < array.Length(); ++i) parameters.push_back(Tensor::unwrapQueued(array.Get(i), "parameters"));
    const int64_t bucketBytes = info[1].IsUndefined() ? GradientAverager::kDefaultBucketBytes : intArg(info[1], "bucketBytes");
    BYOL_EXPECT_RANGE(bucketBytes >= 1, "bucketBytes: expected a positive integer, received ", bucketBytes);
    if (!averager_ || averagerBucketBytes_ != bucketBytes) {
      averager_ = std::make_shared<GradientAverager>(group_, bucketBytes);
      averagerBucketBytes_ = bucketBytes;
    }
    auto averager = averager_;
    return runVoidJob(info.Env(), [averager, parameters] { (*averager)(parameters); });
  }

  template <typename Run>
  Napi::Value collective(const Napi::CallbackInfo& info, const char* name, Run run) {
    joined();
    const std::vector<double> values = numbersArg(info[0], name);
    auto group = group_;
    return runJob<std::vector<double>>(
        info.Env(),
        [group, values, run] {
          at::Tensor t = at::tensor(values, at::kDouble);
          run(*group, t);
          return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
        },
        [](Napi::Env env, std::vector<double>& r) { return numbersValue(env, r); });
  }

  std::shared_ptr<ProcessGroup> group_;
  std::shared_ptr<GradientAverager> averager_;
  int64_t averagerBucketBytes_ = 0;
};

// initProcessGroup(options: { rank, worldSize, masterAddr?, masterPort?, agentStore?, storePrefix?, storePath?,
//                  interface?, timeoutMs? }) -> Promise<NativeProcessGroup>, once every rank has joined.
Napi::Value initProcessGroup(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    const ProcessGroupOptions options = processGroupOptions(info[0]);
    return runJob<std::shared_ptr<ProcessGroup>>(
        info.Env(), [options] { return ProcessGroup::create(options); },
        [](Napi::Env env, std::shared_ptr<ProcessGroup>& group) { return NativeProcessGroup::wrap(env, group); });
  });
}

}  // namespace

std::shared_ptr<ProcessGroup> unwrapProcessGroup(const Napi::Value& value, const char* name) {
  const auto& ctor = EnvState::of(value.Env()).processGroupConstructor;
  const bool ok = value.IsObject() && !ctor.IsEmpty() && value.As<Napi::Object>().InstanceOf(ctor.Value());
  BYOL_EXPECT_TYPE(ok, name, ": expected a process group from initProcessGroup(), received ", describe(value));
  auto group = NativeProcessGroup::Unwrap(value.As<Napi::Object>())->group();
  BYOL_EXPECT_TYPE(group != nullptr, name, ": expected a joined process group");
  return group;
}

void InitDistributed(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = NativeProcessGroup::Define(env);
  EnvState::of(env).processGroupConstructor = Napi::Persistent(ctor);
  exports.Set("NativeProcessGroup", ctor);
  exports.Set("initProcessGroup", Napi::Function::New(env, initProcessGroup, "initProcessGroup"));
}

}  // namespace byol::binding
