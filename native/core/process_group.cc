// The process group's backend-independent half: argument checks, failure handling and statistics around every
// collective, and the coalesced broadcast. The backends are in process_group_gloo.cc (or, in a build without
// Gloo's headers, process_group_none.cc).
#include "core/process_group.h"

#include <chrono>
#include <map>
#include <string>
#include <utility>

#include "core/errors.h"

namespace byol {

void ProcessGroup::checkCollectiveTensor(const at::Tensor& t, const char* name) const {
  BYOL_EXPECT_TYPE(t.defined(), name, ": expected a tensor");
  BYOL_EXPECT_RANGE(supports(t.device()), name, ": expected a tensor on a device this group serves (", backends(),
                    "), received one on ", t.device());
  BYOL_EXPECT_RANGE(t.is_contiguous(), name, ": expected a contiguous tensor");
}

void ProcessGroupOptions::validate() const {
  BYOL_EXPECT_RANGE(worldSize >= 1, "worldSize: expected a positive integer, received ", worldSize);
  BYOL_EXPECT_RANGE(rank >= 0 && rank < worldSize, "rank: expected an integer in [0, ", worldSize, "), received ", rank);
  BYOL_EXPECT_RANGE(!storePath.empty() || !masterAddr.empty(), "masterAddr: expected a host name or address");
  BYOL_EXPECT_RANGE(!storePath.empty() || (masterPort >= 1 && masterPort <= 65535),
                    "masterPort: expected a port number in [1, 65535], received ", masterPort);
  BYOL_EXPECT_RANGE(timeout.count() >= 1, "timeout: expected a positive number of milliseconds, received ",
                    timeout.count());
}

std::shared_ptr<ProcessGroup> ProcessGroup::create(const ProcessGroupOptions& options) {
  options.validate();
  return detail::openProcessGroup(options);
}

ProcessGroup::~ProcessGroup() = default;

template <typename Run>
void ProcessGroup::collective(const char* name, int64_t bytes, Run&& run) {
  if (broken_)
    throw DistributedError(message(name, " on rank ", rank_, ": the process group failed earlier and cannot be used"));
  const auto start = std::chrono::steady_clock::now();
  try {
    run();
  } catch (const std::exception& e) {
    broken_ = true;
    std::string cause;
    try {
      cause = diagnoseFailure();
    } catch (const std::exception&) {
      // Only a better message was at stake; the collective's own error follows.
    }
    throw DistributedError(message(name, " failed on rank ", rank_, " of ", worldSize_, ": ",
                                   cause.empty() ? "" : cause + "; ", exceptionText(e)));
  }
  stats_.calls += 1;
  stats_.bytes += bytes;
  stats_.milliseconds += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

void ProcessGroup::allReduceSum(at::Tensor& tensor) {
  checkCollectiveTensor(tensor, "allReduce");
  if (worldSize_ == 1) return;
  collective("allReduce", tensor.nbytes(), [&] { runAllReduce(tensor); });
}

std::vector<at::Tensor> ProcessGroup::allGather(const at::Tensor& tensor) {
  checkCollectiveTensor(tensor, "allGather");
  if (worldSize_ == 1) return {tensor.clone()};
  std::vector<at::Tensor> outputs;
  for (int64_t r = 0; r < worldSize_; ++r) outputs.push_back(at::empty_like(tensor));
  at::Tensor input = tensor;
  collective("allGather", tensor.nbytes() * worldSize_, [&] { runAllGather(outputs, input); });
  return outputs;
}

void ProcessGroup::broadcast(at::Tensor& tensor, int64_t root) {
  checkCollectiveTensor(tensor, "broadcast");
  BYOL_EXPECT_RANGE(root >= 0 && root < worldSize_, "root: expected a rank in [0, ", worldSize_, "), received ", root);
  if (worldSize_ == 1) return;
  collective("broadcast", tensor.nbytes(), [&] { runBroadcast(tensor, root); });
}

void ProcessGroup::broadcastCoalesced(const std::vector<at::Tensor>& tensors, int64_t root) {
  if (worldSize_ == 1) return;
  at::NoGradGuard noGrad;
  // One flat bucket per (device, dtype): a collective takes one contiguous tensor.
  std::map<std::pair<std::string, at::ScalarType>, std::vector<at::Tensor>> byType;
  for (const auto& t : tensors) {
    BYOL_EXPECT_TYPE(t.defined(), "broadcast: expected defined tensors");
    byType[{t.device().str(), t.scalar_type()}].push_back(t);
  }
  for (auto& [key, list] : byType) {
    std::vector<at::Tensor> flat;
    flat.reserve(list.size());
    for (const auto& t : list) flat.push_back(t.reshape({-1}));
    at::Tensor bucket = at::cat(flat);
    broadcast(bucket, root);
    int64_t offset = 0;
    for (auto& t : list) {
      t.copy_(bucket.narrow(0, offset, t.numel()).view(t.sizes()));
      offset += t.numel();
    }
  }
}

void ProcessGroup::barrier() {
  if (worldSize_ == 1) return;
  collective("barrier", 0, [&] { runBarrier(); });
}

}  // namespace byol
