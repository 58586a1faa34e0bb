// SPDX-License-Identifier: GPL-3.0-or-later
// The only file that includes c10d (its headers are heavy and differ between LibTorch 1.13 and
// 2.x): the process group, the sparse gradient exchange, the launch environment.
#include "brillm/training/distributed.h"

#include "brillm/error.h"
#include "io/detail/checkpoint_chunks.h" // a tensor read in chunks (brillm_core_internal)

#include <ATen/ATen.h>

#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
// NCCL: a CUDA LibTorch built with NCCL (USE_C10D_NCCL, propagated by Torch's CMake targets) and
// <nccl.h> found (BRILLM_WITH_NCCL, training/CMakeLists.txt). BRILLM_NCCL alone guards the code.
#if defined(USE_C10D_NCCL) && defined(BRILLM_WITH_NCCL)
#define BRILLM_NCCL 1
#endif
#ifdef BRILLM_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <netinet/in.h>
#include <span>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace brillm::training {

// ---------------------------------------------------------------------------------------------
// The launch environment

namespace {

std::optional<long long> envInt(const std::function<const char*(const char*)>& getenv, const char* name) {
    const char* v = getenv(name);
    if (!v || !*v) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const long long x = std::strtoll(v, &end, 10);
    if (errno || *end != '\0')
        throw InputError(std::string("the environment variable ") + name + "='" + v + "' is not an integer");
    return x;
}

std::string envString(const std::function<const char*(const char*)>& getenv, const char* name) {
    const char* v = getenv(name);
    return v ? std::string(v) : std::string();
}

} // namespace

std::optional<DistributedEnv> distributedEnvFromEnvironment(const std::function<const char*(const char*)>& getenvIn) {
    const std::function<const char*(const char*)> getenv =
        getenvIn ? getenvIn : [](const char* n) -> const char* { return std::getenv(n); };
    DistributedEnv e;
    std::optional<long long> rank, world, local, localWorld;
    if (envInt(getenv, "RANK") || envInt(getenv, "WORLD_SIZE")) {
        e.source = "torchrun";
        rank = envInt(getenv, "RANK");
        world = envInt(getenv, "WORLD_SIZE");
        if (!rank || !world) throw InputError("RANK and WORLD_SIZE must be set together (torchrun sets both)");
        local = envInt(getenv, "LOCAL_RANK");
        localWorld = envInt(getenv, "LOCAL_WORLD_SIZE");
        e.agentStore = envString(getenv, "TORCHELASTIC_USE_AGENT_STORE") == "True";
        if (const auto restarts = envString(getenv, "TORCHELASTIC_RESTART_COUNT"); !restarts.empty())
            e.restartCount = restarts;
    } else if (envInt(getenv, "SLURM_PROCID") && envInt(getenv, "SLURM_NTASKS")) {
        e.source = "slurm";
        rank = envInt(getenv, "SLURM_PROCID");
        world = envInt(getenv, "SLURM_NTASKS");
        local = envInt(getenv, "SLURM_LOCALID");
        // "4" or "4(x2)": the tasks on this node come first
        const auto perNode = envString(getenv, "SLURM_NTASKS_PER_NODE");
        if (!perNode.empty() && std::isdigit(static_cast<unsigned char>(perNode[0])))
            localWorld = std::atoll(perNode.c_str());
    } else {
        return std::nullopt;
    }
    if (*world < 1 || *world > 65536)
        throw InputError("the world size " + std::to_string(*world) + " is not in [1, 65536]");
    if (*rank < 0 || *rank >= *world)
        throw InputError("the rank " + std::to_string(*rank) + " is outside [0, " + std::to_string(*world) + ")");
    e.rank = static_cast<int>(*rank);
    e.worldSize = static_cast<int>(*world);
    e.localRank = static_cast<int>(local.value_or(0));
    e.localWorldSize = static_cast<int>(std::max<long long>(1, localWorld.value_or(1)));
    const auto addr = envString(getenv, "MASTER_ADDR");
    if (!addr.empty())
        e.masterAddr = addr;
    else if (e.worldSize > 1)
        throw InputError(
            "MASTER_ADDR is not set: every rank needs the address of rank 0's rendezvous store "
            "(torchrun sets it; in a Slurm script export MASTER_ADDR=$(scontrol show hostnames | head -n1))");
    if (const auto port = envInt(getenv, "MASTER_PORT")) {
        if (*port < 1 || *port > 65535) throw InputError("MASTER_PORT=" + std::to_string(*port) + " is not a TCP port");
        e.masterPort = static_cast<int>(*port);
    }
    return e;
}

// ---------------------------------------------------------------------------------------------
// The process group

// The heartbeat of this rank in the job and the step named in errors: shared by a communicator
// and its sub-groups (a sub-group may outlive the communicator it came from).
struct Heartbeat {
    DistributedEnv env; // the launch environment: the job's ranks
    std::atomic<int64_t> step{0};
    int subgroups = 0; // sub-groups made so far (the same count on every rank: their store prefix)

    // A thread that counts up the key brillm/heartbeat/RANK in the rendezvous store every kBeat,
    // over a connection of its own. A collective that times out says only that some rank did not
    // answer; a rank whose count stands still is the one that went silent (stopped or dead:
    // SIGSTOP stops every thread of it, the heartbeat's too).
    static constexpr std::chrono::milliseconds kBeat{500};
    c10::intrusive_ptr<::c10d::Store> beatStore;
    std::mutex beatMutex; // one store operation at a time on beatStore
    std::mutex stopMutex;
    std::condition_variable stopCv;
    bool stopBeat = false;
    std::thread beat;

    static std::string beatKey(int rank) { return "brillm/heartbeat/" + std::to_string(rank); }
    // The first diagnosis of a silent rank, published in the store for the ranks whose collectives
    // fail later, when rank 0 (the store's server) may have exited: each heartbeat reads it.
    static constexpr const char* kFindingKey = "brillm/silent";
    std::mutex findingMutex;
    std::string finding; // as read from the store (or published by this rank)
    std::string knownFinding() {
        std::lock_guard<std::mutex> lock(findingMutex);
        return finding;
    }

    void start() {
        ::c10d::TCPStoreOptions so;
        so.port = static_cast<std::uint16_t>(env.masterPort);
        so.isServer = false;
        so.timeout = std::chrono::milliseconds(2000); // a stopped store server must not hold the probe long
        auto tcp = c10::make_intrusive<::c10d::TCPStore>(env.masterAddr, so);
        if (env.agentStore)
            beatStore = c10::make_intrusive<::c10d::PrefixStore>("/worker/attempt_" + env.restartCount, tcp);
        else
            beatStore = tcp;
        beat = std::thread([this] {
            for (uint64_t count = 1;; ++count) {
                try {
                    const std::string v = std::to_string(count);
                    std::lock_guard<std::mutex> lock(beatMutex);
                    beatStore->set(beatKey(env.rank), std::vector<uint8_t>(v.begin(), v.end()));
                    if (knownFinding().empty() && beatStore->check({kFindingKey})) {
                        const auto f = beatStore->get(kFindingKey);
                        std::lock_guard<std::mutex> flock(findingMutex);
                        finding.assign(f.begin(), f.end());
                    }
                } catch (const std::exception&) {
                    // the store's server is gone or stopped: the collectives report it
                }
                std::unique_lock<std::mutex> lock(stopMutex);
                if (stopCv.wait_for(lock, kBeat, [this] { return stopBeat; })) return;
            }
        });
    }

    ~Heartbeat() {
        if (beat.joinable()) {
            {
                std::lock_guard<std::mutex> lock(stopMutex);
                stopBeat = true;
            }
            stopCv.notify_all();
            beat.join();
        }
    }

    // The heartbeat counts of every rank (-1: none yet); nullopt when the store does not answer.
    std::optional<std::vector<long long>> beats() {
        std::vector<long long> out(static_cast<size_t>(env.worldSize), -1);
        try {
            std::lock_guard<std::mutex> lock(beatMutex);
            for (int r = 0; r < env.worldSize; ++r) {
                if (!beatStore->check({beatKey(r)})) continue;
                const auto v = beatStore->get(beatKey(r));
                out[static_cast<size_t>(r)] = std::atoll(std::string(v.begin(), v.end()).c_str());
            }
        } catch (const std::exception&) {
            return std::nullopt;
        }
        return out;
    }

    // Which ranks went silent, as a sentence ("" when it cannot tell): the heartbeats watched for
    // up to four beats, ending as soon as every other rank's count has moved (so a failure with
    // no silent rank is reported at once). When the store stops answering during the watch (rank 0,
    // its server, gave up too) after at least three beats, the ranks that stood still until then
    // are named.
    std::string silentRanks() {
        if (!beatStore) return "";
        const auto started = std::chrono::steady_clock::now();
        const auto first = beats();
        std::vector<bool> moved(static_cast<size_t>(env.worldSize), false);
        moved[static_cast<size_t>(env.rank)] = true;
        bool answered = first.has_value();
        auto lastAnswer = started;
        const auto end = started + 4 * kBeat;
        while (answered && std::chrono::steady_clock::now() < end &&
               !std::all_of(moved.begin(), moved.end(), [](bool b) { return b; })) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            const auto when = std::chrono::steady_clock::now();
            const auto now = beats();
            if (!now) {
                answered = false;
                break;
            }
            lastAnswer = when;
            for (size_t r = 0; r < moved.size(); ++r)
                if ((*now)[r] != (*first)[r]) moved[r] = true;
        }
        const auto watched = std::chrono::duration_cast<std::chrono::milliseconds>(lastAnswer - started);
        const std::string storeGone =
            env.agentStore ? "the rendezvous store (torchrun's agent) does not answer"
                           : "rank 0, which serves the rendezvous store, does not answer (stopped or dead)";
        // another rank's diagnosis, read by the heartbeat before the store went away
        const auto earlier = [&] {
            const std::string f = knownFinding();
            return f.empty() ? storeGone : f + "; then " + storeGone;
        };
        if (!first || (!answered && watched < 3 * kBeat)) return earlier();
        std::string silent;
        int count = 0;
        for (int r = 0; r < env.worldSize; ++r)
            if (!moved[static_cast<size_t>(r)]) {
                silent += (silent.empty() ? "" : ", ") + std::to_string(r);
                ++count;
            }
        if (silent.empty()) return answered ? "" : earlier();
        const std::string found = (count == 1 ? "rank " : "ranks ") + silent + " went silent (" +
                                  (count == 1 ? "its" : "their") + " heartbeat stood still for " +
                                  std::to_string(watched.count()) + " ms: stopped, hung or dead)";
        if (!answered) return found + "; then " + storeGone;
        try { // published for the ranks that fail later (their peers' exits, not the silent rank)
            std::lock_guard<std::mutex> lock(beatMutex);
            beatStore->set(kFindingKey, std::vector<uint8_t>(found.begin(), found.end()));
            std::lock_guard<std::mutex> flock(findingMutex);
            if (finding.empty()) finding = found;
        } catch (const std::exception&) {
        }
        return found;
    }
    // Rank 0 serves the store: after a diagnosis it stays a few beats before it gives up, so that
    // the other ranks' heartbeats read the diagnosis before the store goes with it.
    void lingerIfServer() {
        if (env.rank == 0 && !env.agentStore && !knownFinding().empty()) std::this_thread::sleep_for(3 * kBeat);
    }
};

struct Communicator::Impl {
    DistributedEnv env; // the launch environment (rank and world size of the job)
    DistributedOptions options;
    c10::intrusive_ptr<::c10d::Store> store;
    c10::intrusive_ptr<::c10d::ProcessGroupGloo> group; // backend gloo
#ifdef BRILLM_NCCL
    c10::intrusive_ptr<::c10d::ProcessGroupNCCL> nccl; // backend nccl
#endif
    at::Device device{at::kCPU}; // where the collectives run
    uint64_t bytes = 0;
    std::shared_ptr<Heartbeat> heartbeat;
    // a sub-group: its ranks in the job (ascending) and its name; empty for the whole job
    std::vector<int> members;
    std::string name;
    int rank = 0, size = 1; // within this group

    // The job's rank of this group's rank r.
    int jobRank(int r) const {
        return members.empty() ? r : members[static_cast<size_t>(r)];
    }
    // "rank 2 of 4" or, in a sub-group, "rank 2 of 4 (shard group 1: ranks 2, 3)"
    std::string who() const {
        std::string w = "rank " + std::to_string(env.rank) + " of " + std::to_string(env.worldSize);
        if (members.empty()) return w;
        w += " (" + name + ": ranks ";
        for (size_t i = 0; i < members.size(); ++i)
            w += (i ? ", " : "") + std::to_string(members[i]);
        return w + ")";
    }

    // Runs `f(processGroup)` (a collective) on the group and waits for its work.
    template <class F> void run(F&& f) {
#ifdef BRILLM_NCCL
        if (nccl) {
            f(*nccl)->wait();
            return;
        }
#endif
        f(*group)->wait();
    }
#ifdef BRILLM_NCCL
    // NCCL on cuda:LOCAL_RANK (or options.cudaDevice). TORCH_NCCL_BLOCKING_WAIT=1 (unless the
    // environment says otherwise) makes a collective's wait() block and throw after the timeout,
    // as Gloo's does, instead of the watchdog ending the process.
    void connectNccl(std::chrono::milliseconds timeout) {
        const int gpus = static_cast<int>(c10::cuda::device_count());
        const int index = options.cudaDevice >= 0 ? options.cudaDevice : env.localRank;
        if (options.cudaDevice >= 0 && env.localWorldSize > 1)
            throw InputError(
                "with " + std::to_string(env.localWorldSize) +
                " ranks on this machine each rank trains on cuda:LOCAL_RANK: give --device cuda, not cuda:N");
        if (index >= gpus)
            throw InputError("rank " + std::to_string(env.rank) + " needs cuda:" + std::to_string(index) +
                             " for the nccl backend, and this machine has " + std::to_string(gpus) +
                             " GPU(s): start at most one rank per GPU");
        device = at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
        c10::cuda::set_device(static_cast<c10::DeviceIndex>(index));
        ::setenv("TORCH_NCCL_BLOCKING_WAIT", "1", /*overwrite=*/0);
        auto no = ::c10d::ProcessGroupNCCL::Options::create();
        no->timeout = timeout;
        nccl = c10::make_intrusive<::c10d::ProcessGroupNCCL>(store, env.rank, env.worldSize, no);
        // NCCL makes its communicator at the first collective: one here, so that connect() returns
        // once every rank has joined, as with Gloo
        std::vector<at::Tensor> ts{at::zeros({1}, at::TensorOptions().dtype(at::kInt).device(device))};
        run([&](auto& pg) { return pg.allreduce(ts); });
    }
#endif
    // The tensor a collective works on: `t` itself where it lives on `device`, else a copy there.
    at::Tensor staged(const at::Tensor& t) const {
        return t.device() == device ? t : t.to(device);
    }
    void checkTensor(const at::Tensor& t, const char* what) const {
        if (!t.defined() || !t.is_contiguous() || !(t.device().is_cpu() || t.device() == device))
            throw InputError(std::string("collective '") + what + "' needs a defined, contiguous tensor on the CPU" +
                             (device.is_cpu() ? std::string() : " or on " + device.str()));
    }
};

namespace {

std::shared_ptr<::gloo::transport::Device> glooDevice(const std::string& masterAddr) {
    if (masterAddr == "localhost" || masterAddr.rfind("127.", 0) == 0)
        return ::c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
        return ::c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
    return ::c10d::ProcessGroupGloo::createDefaultDevice();
}

std::string secondsText(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g s", s);
    return buf;
}

uint64_t bytesOf(const at::Tensor& t) {
    return static_cast<uint64_t>(t.numel()) * t.element_size();
}

} // namespace

bool ncclAvailable() {
#ifdef BRILLM_NCCL
    return true;
#else
    return false;
#endif
}

void checkBackend(const std::string& backend) {
    if (backend == "nccl" && !ncclAvailable())
        throw InputError(
            "the nccl backend needs CUDA, and this build of the trainer has no CUDA/NCCL (its tensors live on "
            "the CPU): use --dist-backend gloo");
    if (backend != "gloo" && backend != "nccl")
        throw InputError("unknown distributed backend '" + backend + "' (expected gloo, nccl or auto)");
}

std::string resolveBackend(const std::string& backend, const std::string& device) {
    if (backend != "auto") return backend;
    return device.rfind("cuda", 0) == 0 && ncclAvailable() ? "nccl" : "gloo";
}

std::unique_ptr<Communicator> Communicator::connect(const DistributedEnv& env, const DistributedOptions& options) {
    checkBackend(options.backend);
    if (!(options.timeoutSeconds > 0)) throw InputError("the distributed timeout must be positive");
    auto impl = std::make_unique<Impl>();
    impl->env = env;
    impl->options = options;
    impl->rank = env.rank;
    impl->size = env.worldSize;
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(options.timeoutSeconds * 1000));
    try {
        // as torch.distributed's env:// rendezvous: rank 0 serves the store, unless torchrun's agent does
        ::c10d::TCPStoreOptions so;
        so.port = static_cast<std::uint16_t>(env.masterPort);
        so.isServer = env.rank == 0 && !env.agentStore;
        so.numWorkers = static_cast<std::size_t>(env.worldSize);
        so.waitWorkers = false; // the process group's rendezvous waits, with the same timeout
        so.timeout = timeout;
        so.multiTenant = true;
        auto tcp = c10::make_intrusive<::c10d::TCPStore>(env.masterAddr, so);
        if (env.agentStore)
            impl->store = c10::make_intrusive<::c10d::PrefixStore>("/worker/attempt_" + env.restartCount, tcp);
        else
            impl->store = tcp;
        if (options.backend == "nccl") {
#ifdef BRILLM_NCCL
            impl->connectNccl(timeout);
#endif
        } else {
            auto go = ::c10d::ProcessGroupGloo::Options::create(timeout);
            go->devices.push_back(glooDevice(env.masterAddr));
            go->threads = 1; // one collective at a time: the training loop waits for each
            impl->group = c10::make_intrusive<::c10d::ProcessGroupGloo>(impl->store, env.rank, env.worldSize, go);
        }
        impl->heartbeat = std::make_shared<Heartbeat>();
        impl->heartbeat->env = env;
        impl->heartbeat->start();
    } catch (const InputError&) {
        throw;
    } catch (const std::exception& e) {
        throw TrainingError("rank " + std::to_string(env.rank) + " of " + std::to_string(env.worldSize) +
                            ": could not join the process group at " + env.masterAddr + ":" +
                            std::to_string(env.masterPort) + " within " + secondsText(options.timeoutSeconds) +
                            " (are all ranks started, with the same MASTER_ADDR and MASTER_PORT?): " + e.what());
    }
    return std::unique_ptr<Communicator>(new Communicator(std::move(impl)));
}

Communicator::Communicator(std::unique_ptr<Impl> impl) : m(std::move(impl)) {}
Communicator::~Communicator() = default;

int Communicator::rank() const {
    return m->rank;
}
int Communicator::worldSize() const {
    return m->size;
}
const DistributedEnv& Communicator::env() const {
    return m->env;
}
const DistributedOptions& Communicator::options() const {
    return m->options;
}
at::Device Communicator::device() const {
    return m->device;
}
void Communicator::setStep(int64_t step) {
    m->heartbeat->step = step;
}
uint64_t Communicator::bytesSent() const {
    return m->bytes;
}

void Communicator::fail(const char* what, const std::exception& e) const {
    std::string msg = e.what();
    if (const auto nl = msg.find("\nException raised from"); nl != std::string::npos) msg.resize(nl); // c10 backtraces
    const std::string silent = m->heartbeat->silentRanks();
    m->heartbeat->lingerIfServer();
    const int64_t step = m->heartbeat->step;
    throw TrainingError(m->who() + ": '" + what + "' failed " +
                        (step > 0 ? "at step " + std::to_string(step) : std::string("during setup")) +
                        ": another rank exited or did not answer within " + secondsText(m->options.timeoutSeconds) +
                        (silent.empty() ? std::string() : ": " + silent) + " (" + msg +
                        "). The run can resume from its last checkpoint, with any number of ranks.");
}

void Communicator::allReduceSum(at::Tensor& tensor, const char* what) {
    m->checkTensor(tensor, what);
    m->bytes += bytesOf(tensor);
    try {
        std::vector<at::Tensor> ts{m->staged(tensor)};
        ::c10d::AllreduceOptions o;
        o.reduceOp = ::c10d::ReduceOp::SUM;
        m->run([&](auto& pg) { return pg.allreduce(ts, o); });
        if (!ts[0].is_same(tensor)) tensor.copy_(ts[0]);
    } catch (const std::exception& e) {
        fail(what, e);
    }
}

at::Tensor Communicator::allGather(const at::Tensor& tensor, const char* what) {
    m->checkTensor(tensor, what);
    m->bytes += bytesOf(tensor);
    std::vector<int64_t> shape{m->size};
    shape.insert(shape.end(), tensor.sizes().begin(), tensor.sizes().end());
    at::Tensor out = at::empty(shape, tensor.options().device(m->device));
    try {
        std::vector<std::vector<at::Tensor>> outputs(1);
        for (int r = 0; r < m->size; ++r)
            outputs[0].push_back(out[r]);
        std::vector<at::Tensor> inputs{m->staged(tensor)};
        m->run([&](auto& pg) { return pg.allgather(outputs, inputs); });
        if (out.device() != tensor.device()) out = out.to(tensor.device());
    } catch (const std::exception& e) {
        fail(what, e);
    }
    return out;
}

void Communicator::broadcast(at::Tensor& tensor, int root, const char* what) {
    m->checkTensor(tensor, what);
    if (root == m->rank) m->bytes += bytesOf(tensor);
    try {
        std::vector<at::Tensor> ts{m->staged(tensor)};
        ::c10d::BroadcastOptions o;
        o.rootRank = root;
        m->run([&](auto& pg) { return pg.broadcast(ts, o); });
        if (!ts[0].is_same(tensor)) tensor.copy_(ts[0]);
    } catch (const std::exception& e) {
        fail(what, e);
    }
}

void Communicator::agree(const std::exception_ptr& failure, const std::string& stage) {
    at::Tensor flag = at::full({1}, failure ? 1 : 0, at::kInt);
    at::Tensor all;
    try {
        all = allGather(flag, stage.c_str());
    } catch (...) {
        if (failure) std::rethrow_exception(failure);
        throw;
    }
    if (failure) std::rethrow_exception(failure);
    std::string failed;
    for (int r = 0; r < m->size; ++r)
        if (all[r][0].item<int>()) failed += (failed.empty() ? "" : ", ") + std::to_string(m->jobRank(r));
    if (!failed.empty())
        throw TrainingError("rank " + std::to_string(m->env.rank) + ": " + stage + " failed on rank " + failed +
                            " (that rank printed why); stopping");
}

std::unique_ptr<Communicator> Communicator::subgroup(const std::vector<int>& members, const std::string& name) {
    if (m->options.backend != "gloo")
        throw InputError("process sub-groups (the 2-D layout of --shard-edges) run over gloo, not " +
                         m->options.backend);
    const auto me = std::find(members.begin(), members.end(), m->rank);
    if (members.empty() || me == members.end() || !std::is_sorted(members.begin(), members.end()) ||
        std::adjacent_find(members.begin(), members.end()) != members.end() || members.front() < 0 ||
        members.back() >= m->size)
        throw InputError(m->who() + ": the sub-group '" + name +
                         "' must list distinct ranks of the group in ascending order, this rank among them");
    auto impl = std::make_unique<Impl>();
    impl->env = m->env;
    impl->options = m->options;
    impl->heartbeat = m->heartbeat;
    impl->name = name;
    for (int r : members)
        impl->members.push_back(m->jobRank(r));
    impl->rank = static_cast<int>(me - members.begin());
    impl->size = static_cast<int>(members.size());
    const std::string prefix = "brillm/group/" + std::to_string(m->heartbeat->subgroups++) + "/" + name;
    const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(m->options.timeoutSeconds * 1000));
    try {
        impl->store = c10::make_intrusive<::c10d::PrefixStore>(prefix, m->store);
        auto go = ::c10d::ProcessGroupGloo::Options::create(timeout);
        go->devices.push_back(glooDevice(m->env.masterAddr));
        go->threads = 1;
        impl->group = c10::make_intrusive<::c10d::ProcessGroupGloo>(impl->store, impl->rank, impl->size, go);
    } catch (const std::exception& e) {
        std::string msg = e.what();
        if (const auto nl = msg.find("\nException raised from"); nl != std::string::npos) msg.resize(nl);
        const std::string silent = m->heartbeat->silentRanks();
        throw TrainingError(impl->who() + ": could not form the process group within " +
                            secondsText(m->options.timeoutSeconds) + (silent.empty() ? "" : ": " + silent) + " (" +
                            msg + ")");
    }
    return std::unique_ptr<Communicator>(new Communicator(std::move(impl)));
}

// ---------------------------------------------------------------------------------------------
// The sparse gradient exchange

namespace {

// The first collective of a gradient exchange: every rank's slot count, samples and loss sum
// gathered; the global samples and loss sum (summed in rank order: the same on every rank) into
// stats; returns the largest slot count (the padded length of the slot lists).
int64_t gatherCounts(Communicator& comm, int64_t slots, int64_t samples, double lossSum, const char* what,
                     ExchangeStats& stats) {
    at::Tensor info = at::empty({3}, at::kDouble);
    info.data_ptr<double>()[0] = static_cast<double>(slots);
    info.data_ptr<double>()[1] = static_cast<double>(samples);
    info.data_ptr<double>()[2] = lossSum;
    const at::Tensor all = comm.allGather(info, what);
    const double* a = all.data_ptr<double>();
    int64_t maxSlots = 0;
    for (int64_t r = 0; r < comm.worldSize(); ++r) {
        maxSlots = std::max(maxSlots, static_cast<int64_t>(a[r * 3]));
        stats.globalSamples += static_cast<int64_t>(a[r * 3 + 1]);
        stats.globalLossSum += a[r * 3 + 2];
    }
    if (stats.globalSamples == 0) throw TrainingError("the global batch has no sample with a trained edge");
    return maxSlots;
}

// The second: every rank's slot ids, padded with -1 to maxSlots, gathered; their sorted union.
std::vector<int64_t> gatherSlotUnion(Communicator& comm, std::span<const int64_t> slots, int64_t maxSlots,
                                     const char* what) {
    std::vector<int64_t> unionSlots;
    if (maxSlots == 0) return unionSlots;
    at::Tensor ids = at::full({maxSlots}, -1, at::kLong);
    std::copy(slots.begin(), slots.end(), ids.data_ptr<int64_t>());
    const at::Tensor allIds = comm.allGather(ids, what);
    const int64_t* p = allIds.data_ptr<int64_t>();
    const int64_t n = comm.worldSize() * maxSlots;
    unionSlots.reserve(static_cast<size_t>(maxSlots * 2));
    for (int64_t i = 0; i < n; ++i)
        if (p[i] >= 0) unionSlots.push_back(p[i]);
    std::sort(unionSlots.begin(), unionSlots.end());
    unionSlots.erase(std::unique(unionSlots.begin(), unionSlots.end()), unionSlots.end());
    return unionSlots;
}

} // namespace

GradientExchange::GradientExchange(Communicator& comm) : m_comm(comm) {}

const SparseGradients& GradientExchange::exchange(const Model& model, const SparseGradients& local,
                                                  int64_t localSamples, double localLossSum) {
    const int64_t d = model.dim(), dd = d * d;
    const int64_t nodeBiasN = model.nodeBias.numel(), positionsN = model.positions.numel();
    const uint64_t before = m_comm.bytesSent();
    m_stats = {};
    m_stats.localSlots = static_cast<int64_t>(local.slots.size());

    // 1. counts: slots, samples, loss sum of every rank
    const int64_t maxSlots = gatherCounts(m_comm, static_cast<int64_t>(local.slots.size()), localSamples, localLossSum,
                                          "gradient counts", m_stats);

    // 2. slot ids, padded with -1 to the longest list; their sorted union
    const std::vector<int64_t> unionSlots = gatherSlotUnion(m_comm, local.slots, maxSlots, "gradient slot ids");
    const auto U = static_cast<int64_t>(unionSlots.size());
    m_stats.unionSlots = U;

    // 3. one buffer [U*dd | U*d | node_bias | positions], this rank's rows placed by slot, scaled
    //    by its share of the global batch, then summed over ranks
    //    (on the model's device: with NCCL the rows stay on the GPU)
    const at::Device device = model.weights.device();
    const int64_t total = U * dd + U * d + nodeBiasN + positionsN;
    if (!m_buffer.defined() || m_buffer.scalar_type() != model.dtype() || m_buffer.device() != device ||
        m_buffer.numel() < total)
        m_buffer =
            at::empty({std::max<int64_t>(
                          total, m_buffer.defined() && m_buffer.device() == device ? m_buffer.numel() * 3 / 2 : 0)},
                      at::TensorOptions().dtype(model.dtype()).device(device));
    at::Tensor buf = m_buffer.narrow(0, 0, total);
    buf.zero_();
    at::Tensor W = buf.narrow(0, 0, U * dd).view({U, d, d});
    at::Tensor B = buf.narrow(0, U * dd, U * d).view({U, 1, d});
    at::Tensor NB = buf.narrow(0, U * (dd + d), nodeBiasN).view(model.nodeBias.sizes());
    at::Tensor POS = buf.narrow(0, U * (dd + d) + nodeBiasN, positionsN).view(model.positions.sizes());
    if (!local.slots.empty()) {
        at::Tensor idx = at::empty({static_cast<int64_t>(local.slots.size())}, at::kLong);
        int64_t* ip = idx.data_ptr<int64_t>();
        size_t u = 0;
        for (size_t i = 0; i < local.slots.size(); ++i) { // both lists ascending
            while (unionSlots[u] != local.slots[i])
                ++u;
            ip[i] = static_cast<int64_t>(u);
        }
        if (!device.is_cpu()) idx = idx.to(device);
        W.index_copy_(0, idx, local.weights.to(device, model.dtype()));
        B.index_copy_(0, idx, local.biases.to(device, model.dtype()));
    }
    if (localSamples > 0) {
        if (local.nodeBias.defined()) NB.copy_(local.nodeBias);
        if (local.positions.defined()) POS.copy_(local.positions);
        if (localSamples != m_stats.globalSamples)
            buf.mul_(static_cast<double>(localSamples) / static_cast<double>(m_stats.globalSamples));
    }
    m_comm.allReduceSum(buf, "gradient rows");

    m_global.slots = std::move(unionSlots);
    m_global.weights = W;
    m_global.biases = B;
    m_global.nodeBias = NB;
    m_global.positions = POS;
    m_stats.exchangeBytes = m_comm.bytesSent() - before;
    m_stats.denseBytes = static_cast<uint64_t>(model.edges.numSlots() * (dd + d) + nodeBiasN + positionsN) *
                         static_cast<uint64_t>(c10::elementSize(model.dtype()));
    return m_global;
}

// ---------------------------------------------------------------------------------------------
// The replicas of one shard (the 2-D layout of --shard-edges)

ReplicaExchange::ReplicaExchange(Communicator& replicas) : m_comm(replicas) {}

const SparseGradients& ReplicaExchange::exchange(const Model& shard, const SparseGradients& local, int64_t localSamples,
                                                 double localLossSum) {
    const int64_t d = shard.dim(), dd = d * d;
    const int64_t nodeBiasN = shard.nodeBias.numel(), positionsN = shard.positions.numel();
    if (shard.dtype() != at::kFloat || (local.weights.defined() && !local.weights.is_cpu()))
        throw InputError("the replica exchange takes float32 gradients in host memory");
    const uint64_t before = m_comm.bytesSent();
    m_stats = {};
    // this rank's own rows (local slots >= 1) and the shared slot's row, if touched
    const bool sharedTouched = !local.slots.empty() && local.slots.front() == EdgeTable::kSharedSlot;
    const size_t ownFrom = sharedTouched ? 1 : 0;
    const auto ownCount = static_cast<int64_t>(local.slots.size() - ownFrom);
    m_stats.localSlots = ownCount;

    // 1. counts: own slots, samples, loss sum of every replica
    const int64_t maxSlots =
        gatherCounts(m_comm, ownCount, localSamples, localLossSum, "replica gradient counts", m_stats);
    const double share = static_cast<double>(localSamples) / static_cast<double>(m_stats.globalSamples);

    // 2. own slot ids, padded with -1 to the longest list; their sorted union
    const std::vector<int64_t> unionSlots = gatherSlotUnion(
        m_comm, std::span<const int64_t>(local.slots).subspan(ownFrom), maxSlots, "replica gradient slot ids");
    const auto U = static_cast<int64_t>(unionSlots.size());
    m_stats.unionSlots = U;

    // 3. the union's rows, this rank's placed by slot and scaled by its share
    at::Tensor rows = at::zeros({U * (dd + d)}, at::kFloat);
    if (U > 0) {
        float* W = rows.data_ptr<float>();
        float* B = W + U * dd;
        const float* lw = local.weights.data_ptr<float>();
        const float* lb = local.biases.data_ptr<float>();
        const auto s = static_cast<float>(share);
        size_t u = 0;
        for (size_t i = ownFrom; i < local.slots.size(); ++i) { // both lists ascending
            while (unionSlots[u] != local.slots[i])
                ++u;
            const auto ui = static_cast<int64_t>(u), li = static_cast<int64_t>(i);
            for (int64_t j = 0; j < dd; ++j)
                W[ui * dd + j] = lw[li * dd + j] * s;
            for (int64_t j = 0; j < d; ++j)
                B[ui * d + j] = lb[li * d + j] * s;
        }
        m_comm.allReduceSum(rows, "replica gradient rows");
    }

    // 4. the replicated parts, a buffer of the same size on every shard
    at::Tensor rep = at::zeros({dd + d + 1 + nodeBiasN + positionsN}, at::kFloat);
    {
        float* p = rep.data_ptr<float>();
        const auto s = static_cast<float>(share);
        if (sharedTouched) {
            const float* lw = local.weights.data_ptr<float>();
            const float* lb = local.biases.data_ptr<float>();
            for (int64_t j = 0; j < dd; ++j)
                p[j] = lw[j] * s;
            for (int64_t j = 0; j < d; ++j)
                p[dd + j] = lb[j] * s;
            p[dd + d] = 1;
        }
        if (localSamples > 0) {
            if (local.nodeBias.defined()) {
                const at::Tensor nb = local.nodeBias.contiguous();
                const float* q = nb.data_ptr<float>();
                for (int64_t j = 0; j < nodeBiasN; ++j)
                    p[dd + d + 1 + j] = q[j] * s;
            }
            if (local.positions.defined()) {
                const at::Tensor pos = local.positions.contiguous();
                const float* q = pos.data_ptr<float>();
                for (int64_t j = 0; j < positionsN; ++j)
                    p[dd + d + 1 + nodeBiasN + j] = q[j] * s;
            }
        }
    }
    m_comm.allReduceSum(rep, "replica gradient of the replicated parameters");

    // the averaged gradients: the shared slot first (when any replica touched it), then the union
    const float* p = rep.data_ptr<float>();
    const bool shared = p[dd + d] > 0;
    const int64_t n = U + (shared ? 1 : 0);
    m_global.slots.clear();
    if (shared) m_global.slots.push_back(EdgeTable::kSharedSlot);
    m_global.slots.insert(m_global.slots.end(), unionSlots.begin(), unionSlots.end());
    m_global.weights = at::empty({n, d, d}, at::kFloat);
    m_global.biases = at::empty({n, 1, d}, at::kFloat);
    float* gw = m_global.weights.data_ptr<float>();
    float* gb = m_global.biases.data_ptr<float>();
    if (shared) {
        std::copy_n(p, dd, gw);
        std::copy_n(p + dd, d, gb);
    }
    if (U > 0) {
        const float* W = rows.data_ptr<float>();
        std::copy_n(W, U * dd, gw + (shared ? dd : 0));
        std::copy_n(W + U * dd, U * d, gb + (shared ? d : 0));
    }
    m_global.nodeBias = rep.narrow(0, dd + d + 1, nodeBiasN).view(shard.nodeBias.sizes());
    m_global.positions = rep.narrow(0, dd + d + 1 + nodeBiasN, positionsN).view(shard.positions.sizes());
    m_stats.exchangeBytes = m_comm.bytesSent() - before;
    m_stats.denseBytes = static_cast<uint64_t>(shard.edges.numSlots() * (dd + d) + nodeBiasN + positionsN) *
                         static_cast<uint64_t>(sizeof(float));
    return m_global;
}

// ---------------------------------------------------------------------------------------------

uint64_t parameterDigest(const Model& model) {
    uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a over 64-bit words, then the tail bytes
    for (const at::Tensor* t : {&model.weights, &model.biases, &model.nodeBias, &model.positions}) {
        // in chunks of a few MB (copied to the host chunk by chunk from a GPU); every chunk but the
        // last is a whole number of words, so the words and the tail are those of the whole tensor
        size_t n = 0;
        brillm::detail::forEachChunk(*t, t->scalar_type(), [&](const void* p, size_t size) {
            const auto* bytes = static_cast<const unsigned char*>(p);
            size_t i = 0;
            for (; i + 8 <= size; i += 8) {
                uint64_t w;
                std::memcpy(&w, bytes + i, 8);
                h = (h ^ w) * 0x100000001b3ULL;
                h ^= h >> 29;
            }
            for (; i < size; ++i)
                h = (h ^ bytes[i]) * 0x100000001b3ULL;
            n += size;
        });
        h = (h ^ n) * 0x100000001b3ULL;
    }
    return h;
}

int findFreePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw Error(std::string("cannot open a socket: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const std::string err = std::strerror(errno);
        ::close(fd);
        throw Error("cannot find a free TCP port on 127.0.0.1: " + err);
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

} // namespace brillm::training
