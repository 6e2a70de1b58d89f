// The process group's backends (core/process_group.h): c10d's ProcessGroupGloo for CPU tensors, and
// ProcessGroupNCCL for CUDA tensors when the LibTorch has it (PyTorch's "cpu:gloo,cuda:nccl"). Built with
// USE_C10D_GLOO (and, with NCCL, USE_C10D_NCCL and BYOL_WITH_NCCL), set for this file only by CMake, as LibTorch's
// headers need; Gloo's own headers are declarations only, and Gloo's code is the LibTorch's (CMakeLists.txt says
// why). Without them CMake builds process_group_none.cc instead.
//
// Every collective, small ones included (synchronised BatchNorm's statistics), goes through ProcessGroupGloo,
// which hands it to its worker threads and waits: about 2 ms per small all-reduce between two processes
// (scripts/bench/collective_latency.mjs).
#include "core/process_group.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef BYOL_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/errors.h"

namespace byol {
namespace {

bool isLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

std::string thisHost() {
  char name[256] = {0};
  gethostname(name, sizeof(name) - 1);
  return name;
}

// Whether a process of this machine has exited: gone, or a zombie its parent has not reaped yet (the
// launcher may not have noticed the death yet when we ask).
bool processExited(int64_t pid) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0) return errno == ESRCH;
  // Plain POSIX reads: the process may vanish while we read, and that must not throw.
  char text[512] = {0};
  FILE* stat = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (stat == nullptr) return true;
  const size_t n = std::fread(text, 1, sizeof(text) - 1, stat);
  std::fclose(stat);
  const std::string line(text, n);
  const auto close = line.rfind(')');
  return n == 0 || (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z');
}

std::string seconds(std::chrono::milliseconds ms) {
  std::ostringstream out;
  out << ms.count() / 1000.0 << " s";
  return out.str();
}

c10::intrusive_ptr<c10d::Store> openStore(const ProcessGroupOptions& o) {
  if (!o.storePath.empty()) {
    auto store = c10::make_intrusive<c10d::FileStore>(o.storePath, static_cast<int>(o.worldSize));
    store->setTimeout(o.timeout);
    return store;
  }
  c10d::TCPStoreOptions tcp;
  tcp.port = static_cast<std::uint16_t>(o.masterPort);
  tcp.isServer = !o.agentStore && o.rank == 0;
  tcp.numWorkers = static_cast<std::size_t>(o.worldSize);
  tcp.waitWorkers = false;  // the Gloo rendezvous below waits for every rank anyway
  tcp.timeout = o.timeout;
  const std::string where = message(o.masterAddr, ":", o.masterPort);
  try {
    return c10::make_intrusive<c10d::TCPStore>(o.masterAddr, tcp);
  } catch (const std::exception& e) {
    const std::string text = exceptionText(e);
    if (text.find("already in use") != std::string::npos)
      throw RangeError(message("masterPort: ", where, " is already in use (another job or process holds it); choose a "
                               "free --master-port"));
    if (tcp.isServer)
      throw DistributedError(message("rank 0 cannot host the rendezvous store at ", where, ": ", text));
    throw DistributedError(message("rank ", o.rank, " cannot reach the rendezvous store at ", where, " within ",
                                   seconds(o.timeout), " (is the master address right and rank 0 started?): ", text));
  }
}

std::shared_ptr<gloo::transport::Device> openDevice(const ProcessGroupOptions& o) {
  if (!o.interface.empty()) return c10d::ProcessGroupGloo::createDeviceForInterface(o.interface);
  if (!o.storePath.empty() || isLoopback(o.masterAddr))
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

struct Peer {
  std::string host;
  int64_t pid = 0;
};

// One collective on one tensor with either backend, waited for.
template <typename Backend>
void allReduceWith(Backend& backend, at::Tensor& tensor) {
  std::vector<at::Tensor> list{tensor};
  backend.allreduce(list)->wait();
}
template <typename Backend>
void allGatherWith(Backend& backend, std::vector<at::Tensor>& outputs, at::Tensor& input) {
  std::vector<std::vector<at::Tensor>> out{outputs};
  std::vector<at::Tensor> in{input};
  backend.allgather(out, in)->wait();
  outputs = out.front();
}
template <typename Backend>
void broadcastWith(Backend& backend, at::Tensor& tensor, int64_t root) {
  std::vector<at::Tensor> list{tensor};
  c10d::BroadcastOptions options;
  options.rootRank = root;
  backend.broadcast(list, options)->wait();
}

class GlooProcessGroup final : public ProcessGroup {
 public:
  explicit GlooProcessGroup(const ProcessGroupOptions& o)
      : ProcessGroup(o.rank, o.worldSize, o.timeout),
        where_(o.storePath.empty() ? message(o.masterAddr, ":", o.masterPort) : o.storePath),
        timeout_(o.timeout) {
    const std::string prefix = o.storePrefix.empty() ? "byol" : o.storePrefix + "/byol";
    store_ = c10::make_intrusive<c10d::PrefixStore>(prefix, openStore(o));
    auto options = c10d::ProcessGroupGloo::Options::create(o.timeout);
    options->devices.push_back(openDevice(o));
    options->threads = 2;
    try {
      gloo_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, static_cast<int>(o.rank),
                                                          static_cast<int>(o.worldSize), options);
      publishPeers();
    } catch (const std::exception& e) {
      throw DistributedError(message("rank ", o.rank, " of ", o.worldSize, ": the other ranks did not all join at ",
                                     where_, " within ", seconds(o.timeout), " (did every rank start?): ", exceptionText(e)));
    }
  }

  bool supports(const at::Device& device) const override {
#ifdef BYOL_WITH_NCCL
    if (device.is_cuda()) return true;
#endif
    return device.is_cpu();
  }
  const char* backends() const override {
#ifdef BYOL_WITH_NCCL
    return "CPU: Gloo; CUDA: NCCL";
#else
    return "CPU: Gloo; CUDA needs a LibTorch with NCCL";
#endif
  }

 protected:
  void runAllReduce(at::Tensor& tensor) override {
#ifdef BYOL_WITH_NCCL
    if (tensor.is_cuda()) return allReduceWith(nccl(), tensor);
#endif
    allReduceWith(*gloo_, tensor);
  }
  void runAllGather(std::vector<at::Tensor>& outputs, at::Tensor& input) override {
#ifdef BYOL_WITH_NCCL
    if (input.is_cuda()) return allGatherWith(nccl(), outputs, input);
#endif
    allGatherWith(*gloo_, outputs, input);
  }
  void runBroadcast(at::Tensor& tensor, int64_t root) override {
#ifdef BYOL_WITH_NCCL
    if (tensor.is_cuda()) return broadcastWith(nccl(), tensor, root);
#endif
    broadcastWith(*gloo_, tensor, root);
  }
  void runBarrier() override { gloo_->barrier()->wait(); }

  std::string diagnoseFailure() override {
    const std::string host = thisHost();
    std::vector<std::string> gone;
    // A killed process closes its sockets before it is a zombie: the reset can reach us while it still looks
    // alive. Ask again for up to a second before saying nothing.
    for (int attempt = 0; attempt < 20 && gone.empty(); ++attempt) {
      if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
      for (size_t r = 0; r < peers_.size(); ++r) {
        if (static_cast<int64_t>(r) == rank() || peers_[r].host != host || peers_[r].pid <= 0) continue;
        if (processExited(peers_[r].pid)) gone.push_back(message("rank ", r, " (pid ", peers_[r].pid, ")"));
      }
    }
    if (gone.empty()) return "";
    std::string list = gone.front();
    for (size_t i = 1; i < gone.size(); ++i) list += ", " + gone[i];
    return message("lost ", list, ": the process has exited");
  }

 private:
  // Each rank's host and pid, so that a failure can name the ranks that are gone.
  void publishPeers() {
    const std::string me = message(thisHost(), " ", ::getpid());
    store_->set(message("peer/", rank()), std::vector<uint8_t>(me.begin(), me.end()));
    peers_.resize(static_cast<size_t>(worldSize()));
    for (int64_t r = 0; r < worldSize(); ++r) {
      const auto bytes = store_->get(message("peer/", r));
      std::istringstream in(std::string(bytes.begin(), bytes.end()));
      in >> peers_[static_cast<size_t>(r)].host >> peers_[static_cast<size_t>(r)].pid;
    }
  }

  std::string where_;
  std::chrono::milliseconds timeout_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
#ifdef BYOL_WITH_NCCL
  // ProcessGroupNCCL's constructor refuses a machine without GPUs, so the NCCL group is made at the first CUDA
  // collective (every rank reaches it at the same point of the same program), and a CPU-only run never makes
  // one. Its communicators are in turn made lazily on that tensor's device.
  c10d::ProcessGroupNCCL& nccl() {
    std::call_once(ncclMade_, [this] {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout_;
      nccl_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store_),
                                                          static_cast<int>(rank()), static_cast<int>(worldSize()),
                                                          options);
    });
    return *nccl_;
  }
  std::once_flag ncclMade_;
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif
  std::vector<Peer> peers_;
};

}  // namespace

std::shared_ptr<ProcessGroup> detail::openProcessGroup(const ProcessGroupOptions& options) {
  return std::make_shared<GlooProcessGroup>(options);
}

}  // namespace byol
