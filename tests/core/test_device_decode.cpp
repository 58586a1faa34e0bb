// SPDX-License-Identifier: GPL-3.0-or-later
// Decoding and tracing with the candidates scored on a device through ATen (DeviceEdges),
// checked against the float64 reference and against the CPU kernels. Compiled twice: into
// test_core with BRILLM_TEST_DEVICE "cpu" (every build checks the ATen path on the CPU), and
// into test_gpu_decode (label gpu) with "cuda", which skips without a GPU.
#include "brillm/error.h"
#include "brillm/model/decode.h"
#include "brillm/model/device_edges.h"
#include "reference_model.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>

#ifndef BRILLM_TEST_DEVICE
#define BRILLM_TEST_DEVICE "cpu"
#endif

using namespace brillm;
using brillm::testing::randomModel;
using brillm::testing::referenceEnergies;

namespace {

class DeviceDecode : public ::testing::Test {
protected:
    void SetUp() override {
        if (std::string(BRILLM_TEST_DEVICE) != "cpu" && !cudaAvailable())
            GTEST_SKIP() << "no CUDA in this build or on this machine";
        device = parseComputeDevice(BRILLM_TEST_DEVICE);
    }
    c10::Device device{c10::kCPU};
};

std::vector<float> randomVector(int64_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g(0, 1);
    std::vector<float> v(static_cast<size_t>(n));
    for (auto& x : v)
        x = g(rng);
    return v;
}

// The energy of slot s for input x, in float64 from the model's stored values.
double energy64(const Model& m, int64_t slot, const std::vector<float>& x, const std::vector<float>& pe) {
    const int64_t d = m.dim();
    const auto w = m.weights[slot].to(at::kDouble).contiguous();
    const auto b = m.biases[slot][0].to(at::kDouble).contiguous();
    double sq = 0;
    for (int64_t c = 0; c < d; ++c) {
        double z = b[c].item<double>() + pe[static_cast<size_t>(c)];
        for (int64_t k = 0; k < d; ++k)
            z += static_cast<double>(x[static_cast<size_t>(k)]) * w[k][c].item<double>();
        const double y = gelu(z);
        sq += y * y;
    }
    return std::sqrt(sq);
}

} // namespace

TEST_F(DeviceDecode, EnergiesOfASlotRangeMatchFloat64ForEveryStoredDtype) {
    const auto m32 = randomModel(40, 16, 0.3, 11, at::kFloat);
    const auto x = randomVector(16, 1), pe = randomVector(16, 2);
    for (const auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
        const Model m = m32.toDtype(dtype);
        const DeviceEdges dev(m, device);
        EXPECT_EQ(dev.dtype(), dtype);
        EXPECT_EQ(dev.numSlots(), m.edges.numSlots());
        // a source's own slots, and the shared slot with them
        const int32_t src = 7;
        const int64_t first = m.edges.firstSlot(src), count = m.edges.ownCount(src);
        ASSERT_GT(count, 2);
        std::vector<float> e(static_cast<size_t>(count));
        float shared = -1;
        dev.energies(x.data(), pe.data(), first, count, e.data(), &shared);
        for (int64_t k = 0; k < count; ++k) {
            const double want = energy64(m, first + k, x, pe);
            EXPECT_NEAR(e[static_cast<size_t>(k)], want, 1e-4 * (1 + want)) << "slot " << first + k;
        }
        const double want0 = energy64(m, 0, x, pe);
        EXPECT_NEAR(shared, want0, 1e-4 * (1 + want0));
        // the last slots of the table (the slice's end) and a range without the shared slot
        std::vector<float> tail(3);
        dev.energies(x.data(), pe.data(), dev.numSlots() - 3, 3, tail.data(), nullptr);
        for (int64_t k = 0; k < 3; ++k) {
            const double want = energy64(m, dev.numSlots() - 3 + k, x, pe);
            EXPECT_NEAR(tail[static_cast<size_t>(k)], want, 1e-4 * (1 + want));
        }
    }
}

TEST_F(DeviceDecode, GreedyDecodingAndItsTraceAgreeWithTheCpuKernels) {
    const auto m = randomModel(60, 16, 0.25, 12, at::kFloat);
    DecodeOptions cpu;
    cpu.maxNewTokens = 24;
    DecodeOptions dev = cpu;
    dev.device = std::make_shared<const DeviceEdges>(m, device);
    const std::vector<int32_t> prompt{3, 14, 15};
    const auto a = decode(m, prompt, cpu);
    const auto b = decode(m, prompt, dev);
    EXPECT_EQ(b.tokens, a.tokens);
    ASSERT_EQ(a.steps.size(), b.steps.size());
    for (size_t k = 0; k < a.steps.size(); ++k) {
        const auto& s = a.steps[k];
        const auto& t = b.steps[k];
        // the path's own signals come from the CPU kernels in both
        EXPECT_EQ(t.energy, s.energy);
        EXPECT_EQ(t.output, s.output);
        EXPECT_EQ(t.rank, s.rank);
        EXPECT_NEAR(t.probability, s.probability, 1e-5);
        EXPECT_NEAR(t.sharedEnergy, s.sharedEnergy, 1e-5 * (1 + std::abs(s.sharedEnergy)));
        ASSERT_EQ(t.energies.size(), s.energies.size());
        for (size_t v = 0; v < s.energies.size(); ++v) {
            if (std::isnan(s.energies[v])) {
                EXPECT_TRUE(std::isnan(t.energies[v]));
                continue;
            }
            EXPECT_NEAR(t.energies[v], s.energies[v], 1e-5 * (1 + std::abs(s.energies[v]))) << "step " << k;
        }
    }
    // tracing a given path scores every prompt step on the device too
    const auto pa = tracePath(m, a.tokens, cpu);
    const auto pb = tracePath(m, a.tokens, dev);
    ASSERT_EQ(pa.steps.size(), pb.steps.size());
    for (size_t k = 0; k < pa.steps.size(); ++k) {
        EXPECT_EQ(pb.steps[k].rank, pa.steps[k].rank);
        EXPECT_NEAR(pb.steps[k].probability, pa.steps[k].probability, 1e-5);
    }
}

TEST_F(DeviceDecode, ScoresMatchTheFloat64Reference) {
    // the independent check: every candidate's energy of every step of a path against the
    // reference's dense computation in float64
    const auto m64 = randomModel(30, 8, 0.3, 13, at::kDouble);
    const auto m = m64.toDtype(at::kFloat);
    const std::vector<int32_t> path{4, 9, 2, 27, 4, 11};
    DecodeOptions o;
    o.device = std::make_shared<const DeviceEdges>(m, device);
    o.excludeSelfLoop = false;
    const auto t = tracePath(m, path, o);
    const auto ref = referenceEnergies(m64, path, 1);
    ASSERT_EQ(t.steps.size(), path.size() - 1);
    for (size_t i = 0; i < t.steps.size(); ++i) {
        const auto row = ref.energies[static_cast<int64_t>(i)].contiguous();
        for (int64_t v = 0; v < m.vocabSize(); ++v)
            EXPECT_NEAR(t.steps[i].energies[static_cast<size_t>(v)], row[v].item<double>(), 1e-4)
                << "step " << i << " target " << v;
    }
}

TEST_F(DeviceDecode, RefusesFloat64ModelsAndAnotherModelsCopy) {
    const auto m64 = randomModel(20, 8, 0.3, 14, at::kDouble);
    EXPECT_THROW(DeviceEdges(m64, device), InputError);
    const auto a = randomModel(20, 8, 0.3, 14, at::kFloat);
    const auto b = randomModel(21, 8, 0.3, 15, at::kFloat);
    DecodeOptions o;
    o.maxNewTokens = 3;
    o.device = std::make_shared<const DeviceEdges>(a, device);
    EXPECT_NO_THROW(decode(a, std::vector<int32_t>{1}, o));
    try {
        decode(b, std::vector<int32_t>{1}, o);
        FAIL() << "a copy of another model's edges was used";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
    }
    EXPECT_THROW(decode(m64, std::vector<int32_t>{1}, o), InputError);
}

TEST(ComputeDevice, ParsesTheAcceptedNamesAndSaysWhenCudaIsMissing) {
    EXPECT_EQ(parseComputeDevice("cpu"), c10::Device(c10::kCPU));
    EXPECT_EQ(parseComputeDevice(""), c10::Device(c10::kCPU));
    EXPECT_EQ(parseComputeDevice("auto").is_cuda(), cudaAvailable());
    try {
        parseComputeDevice("gpu");
        FAIL() << "'gpu' accepted";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("expected cpu, cuda, cuda:N or auto"), std::string::npos);
    }
    if (!cudaAvailable()) {
        try {
            parseComputeDevice("cuda:0");
            FAIL() << "cuda accepted without CUDA";
        } catch (const InputError& e) {
            EXPECT_NE(std::string(e.what()).find("no CUDA"), std::string::npos) << e.what();
        }
    } else {
        EXPECT_TRUE(parseComputeDevice("cuda:0").is_cuda());
    }
}

TEST(ScoringDevice, AutoTakesTheGpuForLargeModelsOnlyAndCudaSaysWhyNot) {
    const auto m32 = Model::randomInit({12, 8, 16}, EdgeTable::dense(12), 1);
    const auto m64 = m32.toDtype(at::kDouble);
    const auto edgeBytes = static_cast<uint64_t>(m32.weights.nbytes() + m32.biases.nbytes());
    // the CPU whenever asked, and for auto below the threshold, without a GPU or for float64
    EXPECT_FALSE(scoringDevice("cpu", m32, true));
    EXPECT_FALSE(scoringDevice("", m32, true));
    EXPECT_FALSE(scoringDevice("auto", m32, true, edgeBytes + 1));
    EXPECT_FALSE(scoringDevice("auto", m32, false, 1));
    EXPECT_FALSE(scoringDevice("auto", m64, true, 1)); // the checking mode stays on the CPU
    // the GPU for auto from the threshold up, and when asked
    const auto big = scoringDevice("auto", m32, true, edgeBytes);
    ASSERT_TRUE(big);
    EXPECT_EQ(*big, c10::Device(c10::kCUDA, 0));
    EXPECT_EQ(*scoringDevice("cuda:1", m32.toDtype(at::kBFloat16), true), c10::Device(c10::kCUDA, 1));
    // and why not
    try {
        scoringDevice("cuda", m32, false);
        FAIL() << "the GPU taken without CUDA";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("no CUDA"), std::string::npos) << e.what();
    }
    EXPECT_THROW(scoringDevice("cuda", m64, true), InputError);
    EXPECT_THROW(scoringDevice("tpu", m32, true), InputError);
    EXPECT_THROW(scoringDevice("cuda:x", m32, true), InputError);
}
