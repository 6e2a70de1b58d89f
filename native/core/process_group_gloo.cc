// The process group's backends (core/process_group.h): Gloo for CPU tensors, and NCCL for CUDA tensors when the
// LibTorch has it (PyTorch's "cpu:gloo,cuda:nccl"). Built with USE_C10D_GLOO (and, with NCCL, USE_C10D_NCCL and
// BYOL_WITH_NCCL), set for this file only by CMake, as LibTorch's headers need; Gloo's own headers come from
// libgloo-dev. Without them CMake builds process_group_none.cc instead.
//
// LibTorch 1.13 and 2.x: ProcessGroupGloo/NCCL are c10d::ProcessGroup subclasses in 1.13 and c10d::Backend
// subclasses in 2.x, with the same constructor, Options (timeout) and collective methods, which is all this
// file uses; the templates below take either.
#include "core/process_group.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef BYOL_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#include <gloo/allgather_ring.h>
#include <gloo/allreduce_ring.h>
#include <gloo/broadcast_one_to_all.h>
#include <gloo/rendezvous/context.h>

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <map>
#include <tuple>
#include <sstream>

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

// Small collectives on the calling thread. ProcessGroupGloo hands every collective to its worker threads and
// waits for them: 1.8-2.2 ms per all-reduce of 3 numbers between two processes on this machine, as
// torch.distributed measures it, against 0.12 ms for this path, JS job included
// (scripts/bench/collective_latency.mjs). Synchronised BatchNorm makes ~165 such calls per ResNet-50 step (each BatchNorm layer waits for its
// statistics), so they take this path: a second Gloo context over the same store and device, one cached
// algorithm per (operation, type, size) bound to staging buffers (Gloo's classic algorithms bind their
// pointers when made, and every rank makes them in the same order). Large tensors (gradient buckets, weights)
// go through ProcessGroupGloo, whose chunked algorithms and threads suit them.
class DirectGloo {
 public:
  static constexpr size_t kMaxBytes = 1 << 20;

  DirectGloo(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size, std::chrono::milliseconds timeout,
             std::shared_ptr<gloo::transport::Device> device) {
    c10d::ProcessGroupGloo::GlooStore glooStore(store);
    auto context = std::make_shared<gloo::rendezvous::Context>(rank, size);
    context->setTimeout(timeout);
    context->connectFullMesh(glooStore, device);
    for (int r = 0; r < size; ++r)
      if (r != rank) context->getPair(r)->setSync(/*sync=*/true, /*busyPoll=*/false);
    context_ = std::move(context);
  }

  static bool takes(const at::Tensor& t) {
    const auto type = t.scalar_type();
    return t.is_cpu() && t.nbytes() <= kMaxBytes && (type == at::kFloat || type == at::kDouble || type == at::kLong);
  }

  void allReduce(at::Tensor& t) {
    dispatch(t, [&](auto* data) {
      using T = std::remove_pointer_t<decltype(data)>;
      Slot& slot = slotFor('r', t, 0, [&](Slot& s) {
        s.algorithm = std::make_unique<gloo::AllreduceRing<T>>(context_, std::vector<T*>{reinterpret_cast<T*>(s.in.data())},
                                                               static_cast<int>(t.numel()));
      });
      run(slot, t, t);
    });
  }

  void allGather(std::vector<at::Tensor>& outputs, const at::Tensor& input) {
    const at::Tensor gathered = at::empty({static_cast<int64_t>(outputs.size()) * input.numel()}, input.options());
    dispatch(input, [&](auto* data) {
      using T = std::remove_pointer_t<decltype(data)>;
      Slot& slot = slotFor('g', input, 0, [&](Slot& s) {
        s.out.resize(input.nbytes() * outputs.size());
        s.algorithm = std::make_unique<gloo::AllgatherRing<T>>(
            context_, std::vector<const T*>{reinterpret_cast<const T*>(s.in.data())}, reinterpret_cast<T*>(s.out.data()),
            static_cast<int>(input.numel()));
      });
      run(slot, input, gathered);
    });
    for (size_t r = 0; r < outputs.size(); ++r)
      outputs[r].copy_(gathered.narrow(0, static_cast<int64_t>(r) * input.numel(), input.numel()).view(input.sizes()));
  }

  void broadcast(at::Tensor& t, int64_t root) {
    dispatch(t, [&](auto* data) {
      using T = std::remove_pointer_t<decltype(data)>;
      Slot& slot = slotFor('b', t, root, [&](Slot& s) {
        s.algorithm = std::make_unique<gloo::BroadcastOneToAll<T>>(
            context_, std::vector<T*>{reinterpret_cast<T*>(s.in.data())}, static_cast<size_t>(t.numel()),
            static_cast<int>(root));
      });
      run(slot, t, t);
    });
  }

 private:
  struct Slot {
    std::vector<char> in, out;  // staging: the algorithm's bound memory (out: allgather only)
    std::unique_ptr<gloo::Algorithm> algorithm;
  };

  template <typename Body>
  static void dispatch(const at::Tensor& t, Body&& body) {
    switch (t.scalar_type()) {
      case at::kFloat: return body(static_cast<float*>(nullptr));
      case at::kDouble: return body(static_cast<double*>(nullptr));
      default: return body(static_cast<int64_t*>(nullptr));
    }
  }

  template <typename Make>
  Slot& slotFor(char op, const at::Tensor& t, int64_t root, Make&& make) {
    auto& slot = slots_[std::make_tuple(op, t.scalar_type(), t.numel(), root)];
    if (!slot.algorithm) {
      slot.in.resize(t.nbytes());
      make(slot);
    }
    return slot;
  }

  // Input bytes in, the algorithm run, the result (in place, or the gathered rows) out.
  static void run(Slot& slot, const at::Tensor& input, const at::Tensor& output) {
    std::memcpy(slot.in.data(), input.data_ptr(), input.nbytes());
    slot.algorithm->run();
    const auto& result = slot.out.empty() ? slot.in : slot.out;
    std::memcpy(output.data_ptr(), result.data(), output.nbytes());
  }

  std::shared_ptr<gloo::rendezvous::Context> context_;
  std::map<std::tuple<char, at::ScalarType, int64_t, int64_t>, Slot> slots_;
};

class GlooProcessGroup final : public ProcessGroup {
 public:
  explicit GlooProcessGroup(const ProcessGroupOptions& o)
      : ProcessGroup(o.rank, o.worldSize, o.timeout), where_(o.storePath.empty() ? message(o.masterAddr, ":", o.masterPort)
                                                                                  : o.storePath) {
    const std::string prefix = o.storePrefix.empty() ? "byol" : o.storePrefix + "/byol";
    store_ = c10::make_intrusive<c10d::PrefixStore>(prefix, openStore(o));
    auto options = c10d::ProcessGroupGloo::Options::create(o.timeout);
    auto device = openDevice(o);
    options->devices.push_back(device);
    options->threads = 2;
    try {
      gloo_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, static_cast<int>(o.rank),
                                                          static_cast<int>(o.worldSize), options);
#ifdef BYOL_WITH_NCCL
      // Communicators are made lazily, at the first CUDA collective, on that tensor's device.
      auto ncclOptions = c10d::ProcessGroupNCCL::Options::create();
      ncclOptions->timeout = o.timeout;
      nccl_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store_),
                                                          static_cast<int>(o.rank), static_cast<int>(o.worldSize),
                                                          ncclOptions);
#endif
      direct_ = std::make_unique<DirectGloo>(c10::make_intrusive<c10d::PrefixStore>("direct", store_),
                                             static_cast<int>(o.rank), static_cast<int>(o.worldSize), o.timeout, device);
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
    if (DirectGloo::takes(tensor)) return direct_->allReduce(tensor);
#ifdef BYOL_WITH_NCCL
    if (tensor.is_cuda()) return allReduceWith(*nccl_, tensor);
#endif
    allReduceWith(*gloo_, tensor);
  }
  void runAllGather(std::vector<at::Tensor>& outputs, at::Tensor& input) override {
    if (DirectGloo::takes(input) && input.nbytes() * outputs.size() <= DirectGloo::kMaxBytes)
      return direct_->allGather(outputs, input);
#ifdef BYOL_WITH_NCCL
    if (input.is_cuda()) return allGatherWith(*nccl_, outputs, input);
#endif
    allGatherWith(*gloo_, outputs, input);
  }
  void runBroadcast(at::Tensor& tensor, int64_t root) override {
    if (DirectGloo::takes(tensor)) return direct_->broadcast(tensor, root);
#ifdef BYOL_WITH_NCCL
    if (tensor.is_cuda()) return broadcastWith(*nccl_, tensor, root);
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
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
  std::unique_ptr<DirectGloo> direct_;
#ifdef BYOL_WITH_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;
#endif
  std::vector<Peer> peers_;
};

}  // namespace

std::shared_ptr<ProcessGroup> detail::openProcessGroup(const ProcessGroupOptions& options) {
  return std::make_shared<GlooProcessGroup>(options);
}

}  // namespace byol
