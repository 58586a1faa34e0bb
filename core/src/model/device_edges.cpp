// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/model/device_edges.h"

#include "brillm/error.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cstring>
#include <string>

namespace brillm {

bool cudaAvailable() {
    return at::hasCUDA();
}

c10::Device parseComputeDevice(const std::string& text) {
    if (text.empty() || text == "cpu") return c10::Device(c10::kCPU);
    if (text == "auto") return cudaAvailable() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
    if (text.rfind("cuda", 0) != 0)
        throw InputError("unknown device '" + text + "' (expected cpu, cuda, cuda:N or auto)");
    if (!cudaAvailable())
        throw InputError("device " + text +
                         ": this build has no CUDA (Debian's LibTorch is CPU-only; build against a CUDA LibTorch) "
                         "or this machine has no usable GPU");
    try {
        return c10::Device(text);
    } catch (const std::exception&) {
        throw InputError("unknown device '" + text + "' (expected cpu, cuda, cuda:N or auto)");
    }
}

std::optional<c10::Device> scoringDevice(const std::string& setting, const Model& model, bool cudaUsable,
                                         uint64_t autoGpuEdgeBytes) {
    if (setting.empty() || setting == "cpu") return std::nullopt;
    const bool scorable = model.dtype() == at::kFloat || model.dtype() == at::kBFloat16 || model.dtype() == at::kHalf;
    if (setting == "auto") {
        const auto edgeBytes = static_cast<uint64_t>(model.weights.nbytes() + model.biases.nbytes());
        if (cudaUsable && scorable && edgeBytes >= autoGpuEdgeBytes) return c10::Device(c10::kCUDA, 0);
        return std::nullopt;
    }
    if (setting.rfind("cuda", 0) != 0)
        throw InputError("unknown device '" + setting + "' (expected cpu, cuda, cuda:N or auto)");
    if (!cudaUsable)
        throw InputError("device " + setting +
                         ": this build has no CUDA (Debian's LibTorch is CPU-only; build against a CUDA LibTorch) "
                         "or this machine has no usable GPU");
    if (!scorable) throw InputError("a float64 model is scored on the CPU only (the checking mode)");
    try {
        return c10::Device(setting);
    } catch (const std::exception&) {
        throw InputError("unknown device '" + setting + "' (expected cpu, cuda, cuda:N or auto)");
    }
}

DeviceEdges::DeviceEdges(const Model& model, c10::Device device)
    : m_device(device), m_dtype(model.dtype()), m_numSlots(model.weights.size(0)), m_dim(model.dim()) {
    if (m_dtype == at::kDouble)
        throw InputError("a float64 model is scored on the CPU only (the checking mode); convert it with "
                         "brillm export --dtype f32 to score it on " +
                         device.str());
    if (m_dtype != at::kFloat && m_dtype != at::kBFloat16 && m_dtype != at::kHalf)
        throw InputError(std::string("edge parameters of dtype ") + c10::toString(m_dtype) +
                         " cannot be scored (expected float32, bfloat16 or float16)");
    if (device.is_cuda() && !cudaAvailable())
        throw InputError("device " + device.str() + ": this build has no CUDA or this machine has no usable GPU");
    const c10::NoGradGuard noGrad;
    const int64_t d = m_dim, n = m_numSlots;
    // [N, d, d] -> [d, N, d] on the device: row k of the product's matrix holds row k of every
    // slot's W side by side. Copied slot block by slot block so that the host never holds a
    // transposed copy of a mapped model.
    m_weightsT = at::empty({d, n, d}, at::TensorOptions().dtype(m_dtype).device(device));
    constexpr int64_t kBlock = 4096;
    for (int64_t s = 0; s < n; s += kBlock) {
        const int64_t len = std::min(kBlock, n - s);
        m_weightsT.narrow(1, s, len).copy_(model.weights.narrow(0, s, len).to(device).permute({1, 0, 2}));
    }
    m_weightsT = m_weightsT.view({d, n * d});
    m_biases = model.biases.reshape({n, d}).to(device).contiguous();
}

uint64_t DeviceEdges::bytes() const {
    return static_cast<uint64_t>(m_weightsT.numel() + m_biases.numel()) * at::elementSize(m_dtype);
}

bool DeviceEdges::fits(const Model& model) const {
    return model.dtype() == m_dtype && model.dim() == m_dim && model.weights.size(0) == m_numSlots;
}

void DeviceEdges::energies(const float* x, const float* pe, int64_t first, int64_t count, float* energies,
                           float* shared) const {
    if (first < 0 || count < 0 || first + count > m_numSlots)
        throw InputError("slots " + std::to_string(first) + ".." + std::to_string(first + count) +
                         " are outside the model's " + std::to_string(m_numSlots) + " slots");
    const c10::NoGradGuard noGrad;
    const int64_t d = m_dim;
    const auto f32 = at::TensorOptions().dtype(at::kFloat);
    // x and pe in one transfer
    auto host = at::empty({2, d}, f32);
    std::memcpy(host.data_ptr<float>(), x, static_cast<size_t>(d) * sizeof(float));
    std::memcpy(host.data_ptr<float>() + d, pe, static_cast<size_t>(d) * sizeof(float));
    const auto xp = host.to(m_device);
    const auto xv = xp[0].unsqueeze(0); // [1, d]
    const auto pev = xp[1];             // [d]
    // energies of slots [s, s + len): one product over a strided column slice of W^T
    const auto block = [&](int64_t s, int64_t len) {
        const auto w = m_weightsT.narrow(1, s * d, len * d).to(at::kFloat); // [d, len * d]
        const auto z = at::matmul(xv, w).view({len, d}) + m_biases.narrow(0, s, len).to(at::kFloat) + pev;
        return at::gelu(z).norm(2, {1}); // [len]
    };
    std::vector<at::Tensor> parts;
    if (count > 0) parts.push_back(block(first, count));
    if (shared) parts.push_back(block(0, 1));
    if (parts.empty()) return;
    const auto out = (parts.size() == 1 ? parts[0] : at::cat(parts)).to(at::kCPU).contiguous();
    const float* o = out.data_ptr<float>();
    std::memcpy(energies, o, static_cast<size_t>(count) * sizeof(float));
    if (shared) *shared = o[count];
}

} // namespace brillm
