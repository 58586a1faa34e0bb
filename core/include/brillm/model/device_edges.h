// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// DeviceEdges: a model's edge parameters copied to a compute device (a CUDA GPU with a CUDA
// LibTorch; the CPU works too and is how the CPU-only build checks this code), and the
// energies of a step's candidates computed there with ATen operations. Decoding and tracing
// use it when asked (DecodeOptions::device, `brillm generate --device cuda`): for a large model
// a step's candidates are megabytes of matrices, which a GPU reads at terabytes per second.
//
// The maths is the CPU kernels' (simd::edgeForward): z = x @ W + b + pe, y = GELU(z) with the
// exact-erf GELU, energy = ||y||_2, accumulated in float32. The matrices are kept on the device
// transposed, as one [d, N * d] matrix whose column block s is W[s] ([d, N, d] in memory), so a
// step's own candidates - consecutive slots - are one matrix-vector product over a strided
// slice, reading exactly their bytes. A bfloat16 or float16 model is copied as stored (half the
// device memory) and widened to float32 for the product; a float64 model is refused (the
// checking mode runs on the CPU kernels).
//
// Only the candidates' energies come from the device. The edge a path then takes is computed
// by the CPU kernels from the model itself, so a path's signals are exactly the CPU decoder's
// for the same choices; the energies agree with the CPU kernels' within float rounding (the
// order of the products differs), so a near-tie can be broken differently.
//
// Thread-safe for concurrent energies() calls only as far as ATen is (each call allocates its
// own temporaries); not copyable.

#include "brillm/model/model.h"

#include <c10/core/Device.h>

#include <cstdint>
#include <optional>
#include <string>

namespace brillm {

class DeviceEdges {
public:
    // Copies `model`'s weights and biases to `device`. Throws InputError for a float64 model
    // and when the device is not available in this build or on this machine.
    DeviceEdges(const Model& model, c10::Device device);
    DeviceEdges(const DeviceEdges&) = delete;
    DeviceEdges& operator=(const DeviceEdges&) = delete;

    c10::Device device() const { return m_device; }
    at::ScalarType dtype() const { return m_dtype; }
    int64_t numSlots() const { return m_numSlots; }
    int64_t dim() const { return m_dim; }
    // Device memory held by the copied parameters.
    uint64_t bytes() const;
    // Whether this copy was made from a model of this shape and dtype (the decoder refuses a
    // copy of another model).
    bool fits(const Model& model) const;

    // energies[k] for slots first .. first + count - 1, and, when `shared` is not null, the
    // energy of the shared slot 0 into *shared; x and pe are [d]. One transfer each way.
    void energies(const float* x, const float* pe, int64_t first, int64_t count, float* energies, float* shared) const;

private:
    c10::Device m_device;
    at::ScalarType m_dtype;
    int64_t m_numSlots = 0, m_dim = 0;
    at::Tensor m_weightsT; // [d, N * d], column block s = W[s]
    at::Tensor m_biases;   // [N, d]
};

// True when this LibTorch was built with CUDA and a GPU is usable.
bool cudaAvailable();

// "cpu", "cuda", "cuda:N" or "auto" (CUDA when available, else the CPU) into a device. Throws
// InputError naming the accepted values, or saying that this build or machine has no CUDA.
c10::Device parseComputeDevice(const std::string& text);

// Edge parameters from which "auto" scores a model's candidates on the GPU (when one is usable):
// below it, a step's candidates are read faster by the CPU than they are sent to a GPU.
inline constexpr uint64_t kAutoGpuEdgeBytes = uint64_t{256} << 20;

// Where decoding `model` scores its candidates for the setting "cpu", "cuda", "cuda:N" or "auto"
// (brillm generate/trace --device, the studio's scoring chooser): nullopt for the CPU kernels.
// "auto" takes cuda:0 for a float32/bf16/f16 model whose edge parameters reach autoGpuEdgeBytes
// when `cudaUsable`, else the CPU; "cuda" without a usable GPU, or for a float64 model, throws
// InputError saying why, as does an unknown setting.
std::optional<c10::Device> scoringDevice(const std::string& setting, const Model& model,
                                         bool cudaUsable = cudaAvailable(),
                                         uint64_t autoGpuEdgeBytes = kAutoGpuEdgeBytes);

} // namespace brillm
