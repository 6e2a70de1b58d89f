// A data-parallel process group on PyTorch's own distributed engine (c10d): the ranks meet through a c10d
// store (a TCPStore, or a FileStore for one machine) and exchange tensors with Gloo's collectives (CPU
// tensors) or, in a build against a LibTorch with NCCL, NCCL's (CUDA tensors). The c10d, Gloo and NCCL headers
// stay inside process_group.cc, so nothing else compiles against them.
//
// Every call is collective: each rank must make the same calls in the same order. A failed collective (a
// rank died, the timeout passed) throws DistributedError naming the ranks known to be gone; the group is
// unusable afterwards, and the process should exit.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace byol {

// A collective that could not complete: a lost rank, a timeout, an unreachable or busy rendezvous address.
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ProcessGroupOptions {
  int64_t rank = 0;
  int64_t worldSize = 1;
  // The rendezvous: the TCPStore at masterAddr:masterPort. Rank 0 hosts it unless `agentStore` (torchrun's
  // default mode, where torchrun's agent hosts it and every rank is a client).
  std::string masterAddr = "127.0.0.1";
  int64_t masterPort = 29500;
  bool agentStore = false;
  // Key prefix inside the store (torchrun's "/worker/attempt_<restart count>"); one run's keys never meet
  // another's.
  std::string storePrefix;
  // Instead of a TCPStore: a FileStore at this path (every rank on one machine; tests).
  std::string storePath;
  // How long a rendezvous or a collective may wait for the other ranks.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
  // The network interface Gloo binds (GLOO_SOCKET_IFNAME's role); empty: the master's loopback for a
  // loopback master, otherwise this host's name.
  std::string interface;

  // Throws RangeError naming the first option out of range.
  void validate() const;
};

// Bytes and time spent in collectives, for benchmarks and progress lines.
struct CollectiveStats {
  int64_t calls = 0;
  int64_t bytes = 0;
  double milliseconds = 0;
};

class ProcessGroup {
 public:
  // Joins the group: blocks until every rank has joined or the timeout passes (DistributedError naming the
  // rendezvous address, or a RangeError for a port in use).
  static std::shared_ptr<ProcessGroup> create(const ProcessGroupOptions& options);
  virtual ~ProcessGroup();

  int64_t rank() const { return rank_; }
  int64_t worldSize() const { return worldSize_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // Sum over ranks, in place. `tensor` is one contiguous CPU tensor.
  void allReduceSum(at::Tensor& tensor);
  // Every rank's `tensor` (same shape on all ranks), in rank order.
  std::vector<at::Tensor> allGather(const at::Tensor& tensor);
  // `root`'s values into `tensor` on every rank, in place (one contiguous CPU tensor).
  void broadcast(at::Tensor& tensor, int64_t root = 0);
  // `root`'s values into every tensor of the list (any layout, any dtypes): one flat broadcast per dtype.
  void broadcastCoalesced(const std::vector<at::Tensor>& tensors, int64_t root = 0);
  void barrier();

  // Whether collectives can take tensors on `device` (CPU always; CUDA when built with NCCL).
  virtual bool supports(const at::Device& device) const = 0;
  // Which devices it serves with what, in words (for errors).
  virtual const char* backends() const = 0;

  CollectiveStats stats() const { return stats_; }
  void resetStats() { stats_ = CollectiveStats{}; }

 protected:
  ProcessGroup(int64_t rank, int64_t worldSize, std::chrono::milliseconds timeout)
      : rank_(rank), worldSize_(worldSize), timeout_(timeout) {}

  // The backend: one collective on one contiguous tensor, waited for. Throws what the backend throws.
  virtual void runAllReduce(at::Tensor& tensor) = 0;
  virtual void runAllGather(std::vector<at::Tensor>& outputs, at::Tensor& input) = 0;
  virtual void runBroadcast(at::Tensor& tensor, int64_t root) = 0;
  virtual void runBarrier() = 0;
  // Why a collective failed, in words: which ranks are gone (where this rank can tell), for the error.
  virtual std::string diagnoseFailure() = 0;

 private:
  template <typename Run>
  void collective(const char* name, int64_t bytes, Run&& run);
  void checkCollectiveTensor(const at::Tensor& t, const char* name) const;

  int64_t rank_, worldSize_;
  std::chrono::milliseconds timeout_;
  CollectiveStats stats_;
  bool broken_ = false;
};

namespace detail {
// The backend's half of create(): process_group_gloo.cc, or process_group_none.cc (always throws).
std::shared_ptr<ProcessGroup> openProcessGroup(const ProcessGroupOptions& options);
}  // namespace detail

}  // namespace byol
