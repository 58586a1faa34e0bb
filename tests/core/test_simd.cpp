// SPDX-License-Identifier: GPL-3.0-or-later
// The vector kernels on every target this build has and this CPU runs (SCALAR, SSSE3, SSE4,
// AVX2, AVX3 = AVX-512), each against a float64 reference written here independently (plain
// loops, libm's erf): the edge forward pass for float32, bfloat16 and float16 parameters, the
// backward pass, and decoding, the loss and blame on whole models, including half-precision
// models used in place.
#include "brillm/error.h"
#include "brillm/io/model_file.h"
#include "brillm/model/blame.h"
#include "brillm/model/decode.h"
#include "brillm/model/loss.h"
#include "brillm/model/vector_target.h"
#include "reference_model.h"
#include "simd/edge_kernels.h"

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

using namespace brillm;

namespace {

// Runs fn once per target: Highway's list of compiled targets the CPU supports, each made the
// only supported one (SetSupportedTargetsForTest) and chosen; afterwards every target again.
template <class Fn> void forEachTarget(const Fn& fn) {
    struct Restore {
        ~Restore() {
            hwy::SetSupportedTargetsForTest(0);
            setVectorTarget("best");
        }
    } restore;
    const auto targets = hwy::SupportedAndGeneratedTargets();
    ASSERT_FALSE(targets.empty());
    for (int64_t t : targets) {
        hwy::SetSupportedTargetsForTest(t);
        setVectorTarget("best");
        ASSERT_EQ(activeVectorTarget(), hwy::TargetName(t));
        SCOPED_TRACE(std::string("target ") + hwy::TargetName(t));
        fn();
    }
}

double refGelu(double z) {
    return 0.5 * z * (1.0 + std::erf(z / std::sqrt(2.0)));
}
double refGeluGrad(double z) {
    return 0.5 * (1.0 + std::erf(z / std::sqrt(2.0))) + z * std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI);
}

// Parameters of `slots` edges [slots, d, d] and [slots, d], stored in one of the kernels'
// storages, with their exact values as float64 for the reference.
struct StoredEdges {
    simd::Storage storage;
    std::vector<float> f32;
    std::vector<c10::BFloat16> bf16;
    std::vector<c10::Half> f16;
    std::vector<double> exact; // the stored values
    const void* data() const {
        switch (storage) {
        case simd::Storage::BF16:
            return bf16.data();
        case simd::Storage::F16:
            return f16.data();
        default:
            return f32.data();
        }
    }
};

StoredEdges store(simd::Storage storage, size_t n, std::mt19937& rng, float lo, float hi) {
    std::uniform_real_distribution<float> u(lo, hi);
    StoredEdges s{storage, {}, {}, {}, {}};
    for (size_t k = 0; k < n; ++k) {
        const float v = u(rng);
        switch (storage) {
        case simd::Storage::BF16:
            s.bf16.emplace_back(v);
            s.exact.push_back(static_cast<float>(s.bf16.back()));
            break;
        case simd::Storage::F16:
            s.f16.emplace_back(v);
            s.exact.push_back(static_cast<float>(s.f16.back()));
            break;
        default:
            s.f32.push_back(v);
            s.exact.push_back(v);
        }
    }
    return s;
}

const char* name(simd::Storage s) {
    switch (s) {
    case simd::Storage::F32:
        return "f32";
    case simd::Storage::BF16:
        return "bf16";
    case simd::Storage::F16:
        return "f16";
    case simd::Storage::F64:
        return "f64";
    }
    return "?";
}

} // namespace

TEST(VectorTargets, ListedChosenAndForced) {
    const auto listed = vectorTargets();
    std::vector<std::string> highway;
    for (int64_t t : hwy::SupportedAndGeneratedTargets())
        highway.emplace_back(hwy::TargetName(t));
    EXPECT_EQ(listed, highway);
    ASSERT_FALSE(listed.empty());
    if (!std::getenv("BRILLM_VECTOR_TARGET")) { // the best by default
        EXPECT_EQ(activeVectorTarget(), listed.front());
    }
    for (const auto& t : listed) {
        setVectorTarget(t);
        EXPECT_EQ(activeVectorTarget(), t);
    }
    setVectorTarget("best");
    EXPECT_EQ(activeVectorTarget(), listed.front());
    EXPECT_THROW(setVectorTarget("MMX"), InputError);
    if (std::find(listed.begin(), listed.end(), "AVX3") != listed.end()) {
        setVectorTarget("avx512");
        EXPECT_EQ(activeVectorTarget(), "AVX3");
        setVectorTarget("");
    }
    EXPECT_EQ(activeVectorTarget(), listed.front());
}

// z = x W + b + pe, GELU, norm: every storage, many dimensions (the unrolled widths and the
// general path), group sizes and tails, contiguous and listed slots.
TEST(VectorKernels, EdgeForwardMatchesFloat64OnEveryTarget) {
    forEachTarget([] {
        std::mt19937 rng(5);
        for (simd::Storage st : {simd::Storage::F32, simd::Storage::BF16, simd::Storage::F16}) {
            for (int64_t d : {2, 4, 6, 8, 12, 16, 32, 48, 64, 128}) {
                SCOPED_TRACE(std::string(name(st)) + ", d = " + std::to_string(d));
                const int64_t slots = 14;
                const auto W = store(st, static_cast<size_t>(slots * d * d), rng, -0.5f, 0.5f);
                const auto B = store(st, static_cast<size_t>(slots * d), rng, -1.0f, 1.0f);
                std::uniform_real_distribution<float> u(-1.0f, 1.0f);
                std::vector<float> x(static_cast<size_t>(d)), pe(static_cast<size_t>(d));
                for (auto& v : x)
                    v = u(rng);
                for (auto& v : pe)
                    v = u(rng);
                // listed slots in any order, with repeats
                std::vector<int64_t> list{13, 0, 5, 5, 2, 11, 7, 1, 9, 3, 12, 4, 6, 8, 10, 0, 13};
                for (const int64_t count : {1, 3, 4, 5, 8, 9, 13}) {
                    for (bool listed : {false, true}) {
                        const simd::EdgeSet es{W.data(), B.data(), st, listed ? list.data() : nullptr, 1, count};
                        std::vector<float> e(static_cast<size_t>(count)), z(static_cast<size_t>(count * d)),
                            y(static_cast<size_t>(count * d));
                        simd::edgeForward(x.data(), pe.data(), d, es, e.data(), z.data(), y.data());
                        for (int64_t k = 0; k < count; ++k) {
                            const int64_t slot = listed ? list[static_cast<size_t>(k)] : 1 + k;
                            double sq = 0, tolE = 0;
                            for (int64_t j = 0; j < d; ++j) {
                                double zr = 0, scale = 0;
                                for (int64_t i = 0; i < d; ++i) {
                                    const double p = static_cast<double>(x[static_cast<size_t>(i)]) *
                                                     W.exact[static_cast<size_t>(slot * d * d + i * d + j)];
                                    zr += p;
                                    scale += std::abs(p);
                                }
                                const double b = B.exact[static_cast<size_t>(slot * d + j)];
                                zr += b + pe[static_cast<size_t>(j)];
                                scale += std::abs(b) + std::abs(pe[static_cast<size_t>(j)]);
                                const double tolZ = 4.0 * static_cast<double>(d + 2) * 6e-8 * scale + 1e-7;
                                const double yr = refGelu(zr);
                                const double tolY = 1.2 * tolZ + 3e-7 * (1 + std::abs(zr));
                                sq += yr * yr;
                                tolE += tolY;
                                const auto at = static_cast<size_t>(k * d + j);
                                EXPECT_NEAR(z[at], zr, tolZ) << "edge " << k << " column " << j;
                                EXPECT_NEAR(y[at], yr, tolY) << "edge " << k << " column " << j;
                            }
                            EXPECT_NEAR(e[static_cast<size_t>(k)], std::sqrt(sq), tolE + 1e-6 * std::sqrt(sq))
                                << "edge " << k;
                            // the same edge alone: the same bits (decoding scores and steps agree)
                            float alone = 0;
                            std::vector<float> za(static_cast<size_t>(d));
                            simd::edgeForward(x.data(), pe.data(), d,
                                              simd::EdgeSet{W.data(), B.data(), st, nullptr, slot, 1}, &alone,
                                              za.data(), nullptr);
                            EXPECT_EQ(alone, e[static_cast<size_t>(k)]) << "edge " << k;
                            for (int64_t j = 0; j < d; ++j)
                                EXPECT_EQ(za[static_cast<size_t>(j)], z[static_cast<size_t>(k * d + j)]);
                        }
                        // energies only (no z, y wanted)
                        std::vector<float> e2(static_cast<size_t>(count));
                        simd::edgeForward(x.data(), pe.data(), d, es, e2.data(), nullptr, nullptr);
                        EXPECT_EQ(e2, e);
                    }
                }
            }
        }
    });
}

TEST(VectorKernels, Float64EdgeForwardAndGelu) {
    forEachTarget([] {
        std::mt19937 rng(9);
        std::uniform_real_distribution<double> u(-1, 1);
        for (int64_t d : {2, 6, 8, 32, 48}) {
            std::vector<double> W(static_cast<size_t>(3 * d * d)), B(static_cast<size_t>(3 * d)),
                x(static_cast<size_t>(d)), pe(static_cast<size_t>(d));
            for (auto* v : {&W, &B, &x, &pe})
                for (auto& a : *v)
                    a = u(rng);
            std::vector<double> e(3), y(static_cast<size_t>(3 * d));
            simd::edgeForward(x.data(), pe.data(), d,
                              simd::EdgeSet{W.data(), B.data(), simd::Storage::F64, nullptr, 0, 3}, e.data(), nullptr,
                              y.data());
            for (int64_t k = 0; k < 3; ++k) {
                double sq = 0;
                for (int64_t j = 0; j < d; ++j) {
                    double z = B[static_cast<size_t>(k * d + j)] + pe[static_cast<size_t>(j)];
                    for (int64_t i = 0; i < d; ++i)
                        z += x[static_cast<size_t>(i)] * W[static_cast<size_t>(k * d * d + i * d + j)];
                    EXPECT_NEAR(y[static_cast<size_t>(k * d + j)], refGelu(z), 1e-13);
                    sq += refGelu(z) * refGelu(z);
                }
                EXPECT_NEAR(e[static_cast<size_t>(k)], std::sqrt(sq), 1e-13);
            }
        }
        std::vector<float> v{-9.0f, -3.5f, -1.0f, -0.25f, 0.0f, 0.1f, 0.7f, 2.0f, 4.0f, 12.0f, -0.003f};
        std::vector<double> vd(v.begin(), v.end());
        simd::geluInPlace(v.data(), static_cast<int64_t>(v.size()));
        simd::geluInPlace(vd.data(), static_cast<int64_t>(vd.size()));
        for (size_t k = 0; k < v.size(); ++k) {
            EXPECT_NEAR(v[k], vd[k], 3e-7 * (1 + std::abs(vd[k]))) << k;
        }
    });
}

// dz = dy GELU'(z); gw += x^T dz, gb += dz, dx = W dz (accumulated over two edges).
TEST(VectorKernels, BackwardMatchesFloat64OnEveryTarget) {
    forEachTarget([] {
        std::mt19937 rng(3);
        std::uniform_real_distribution<float> u(-1.0f, 1.0f);
        for (int64_t d : {2, 6, 8, 16, 32, 48, 64}) {
            SCOPED_TRACE("d = " + std::to_string(d));
            const auto D = static_cast<size_t>(d);
            std::vector<float> x(D), gw(D * D), gb(D), acc(D * simd::kAccStride, 0.0f), dx(D, 0.5f);
            std::vector<double> gwRef(D * D), gbRef(D), dxRef(D, 0.5);
            for (size_t k = 0; k < D * D; ++k)
                gwRef[k] = gw[k] = u(rng);
            for (size_t k = 0; k < D; ++k)
                gbRef[k] = gb[k] = u(rng);
            for (auto& v : x)
                v = u(rng);
            for (int edge = 0; edge < 2; ++edge) {
                std::vector<float> w(D * D), z(D), dy(D);
                for (auto& v : w)
                    v = u(rng) * 0.5f;
                for (auto& v : z)
                    v = 3 * u(rng);
                for (auto& v : dy)
                    v = u(rng);
                std::vector<double> dz(D);
                for (size_t j = 0; j < D; ++j)
                    dz[j] = dy[j] * refGeluGrad(z[j]);
                simd::geluBackward(z.data(), dy.data(), d);
                for (size_t j = 0; j < D; ++j)
                    EXPECT_NEAR(dy[j], dz[j], 1e-6) << j;
                simd::linearBackward(x.data(), w.data(), dy.data(), gw.data(), gb.data(), acc.data(), d);
                for (size_t a = 0; a < D; ++a) {
                    for (size_t j = 0; j < D; ++j) {
                        gwRef[a * D + j] += x[a] * dz[j];
                        dxRef[a] += w[a * D + j] * dz[j];
                    }
                }
                for (size_t j = 0; j < D; ++j)
                    gbRef[j] += dz[j];
            }
            simd::reduceRows(acc.data(), dx.data(), d);
            const double tol = 1e-5 * static_cast<double>(d);
            for (size_t k = 0; k < D * D; ++k)
                EXPECT_NEAR(gw[k], gwRef[k], tol) << k;
            for (size_t k = 0; k < D; ++k)
                EXPECT_NEAR(gb[k], gbRef[k], tol) << k;
            for (size_t k = 0; k < D; ++k)
                EXPECT_NEAR(dx[k], dxRef[k], tol) << k;
            // no gradient rows wanted: only dx
            std::vector<float> acc2(D * simd::kAccStride, 0.0f), dx2(D, 0.0f), w(D * D, 0.25f), dz(D, 1.0f);
            simd::linearBackward(x.data(), w.data(), dz.data(), nullptr, nullptr, acc2.data(), d);
            simd::reduceRows(acc2.data(), dx2.data(), d);
            for (size_t k = 0; k < D; ++k)
                EXPECT_NEAR(dx2[k], 0.25 * static_cast<double>(d), 1e-5) << k;
        }
    });
}

// Decoding a float32, bfloat16 and float16 model on every target against the float64 reference
// (ATen ops, reference_model.h) of the same stored values.
TEST(VectorKernels, TracesOfFloatAndHalfModelsMatchTheFloat64Reference) {
    const auto base = brillm::testing::randomModel(40, 32, 0.3, 17, at::kFloat);
    const std::vector<int32_t> path{3, 17, 17, 5, 38, 0, 22, 9, 3, 11};
    for (auto dtype : {at::kFloat, at::kBFloat16, at::kHalf}) {
        SCOPED_TRACE(c10::toString(dtype));
        const Model m = base.toDtype(dtype);
        ASSERT_EQ(m.halfPrecision(), dtype != at::kFloat);
        const Model exact = m.toDtype(at::kDouble); // the stored values
        const auto ref = brillm::testing::referenceEnergies(exact, path, 1);
        forEachTarget([&] {
            DecodeOptions o;
            o.excludeSelfLoop = false;
            const Trace t = tracePath(m, path, o);
            ASSERT_EQ(t.steps.size(), path.size() - 1);
            for (size_t i = 0; i < t.steps.size(); ++i)
                for (int64_t v = 0; v < 40; ++v)
                    EXPECT_NEAR(t.steps[i].energies[static_cast<size_t>(v)],
                                ref.energies[static_cast<int64_t>(i)][v].item<double>(), 2e-5)
                        << "step " << i << " target " << v;
            // greedy decoding: the chosen tokens' energies are the scored ones
            DecodeOptions g;
            g.maxNewTokens = 12;
            const Trace d = decode(m, std::vector<int32_t>{path[0]}, g);
            for (const auto& s : d.steps)
                EXPECT_EQ(s.energy, s.energies[static_cast<size_t>(s.target)]);
        });
    }
}

TEST(VectorKernels, LossAndGradientsOnEveryTarget) {
    const auto m64 = brillm::testing::randomModel(30, 32, 0.25, 4, at::kDouble);
    const Model m32 = m64.toDtype(at::kFloat);
    std::mt19937 rng(2);
    std::uniform_int_distribution<int32_t> node(0, 29);
    std::vector<LossSample> batch;
    for (int b = 0; b < 3; ++b) {
        std::vector<int32_t> t(9);
        for (auto& v : t)
            v = node(rng);
        batch.push_back(LossSample::exactCandidates(t, m64.edges));
    }
    const auto ref = sampledLoss(m64, batch, LossOptions{true, 1});
    forEachTarget([&] {
        const auto r = sampledLoss(m32, batch, LossOptions{true, 2});
        EXPECT_NEAR(r.loss, ref.loss, 1e-5 * std::abs(ref.loss));
        ASSERT_EQ(r.grad.slots, ref.grad.slots);
        EXPECT_LT((r.grad.weights.to(at::kDouble) - ref.grad.weights).abs().max().item<double>(), 1e-5);
        EXPECT_LT((r.grad.biases.to(at::kDouble) - ref.grad.biases).abs().max().item<double>(), 1e-5);
        EXPECT_LT((r.grad.nodeBias.to(at::kDouble) - ref.grad.nodeBias).abs().max().item<double>(), 1e-5);
        EXPECT_LT((r.grad.positions.to(at::kDouble) - ref.grad.positions).abs().max().item<double>(), 1e-5);
        // float64 stays float64 on every target
        const auto r64 = sampledLoss(m64, batch, LossOptions{true, 1});
        EXPECT_NEAR(r64.loss, ref.loss, 1e-12);
        EXPECT_LT((r64.grad.weights - ref.grad.weights).abs().max().item<double>(), 1e-12);
        // blame is float64 whatever the model: the same margins from both models
        BlameQuery q;
        q.path = {3, 7, 1, 22};
        q.a = 5;
        q.b = 9;
        const auto b32 = blame(m32, q), b64 = blame(m64.toDtype(at::kFloat).toDtype(at::kDouble), q);
        EXPECT_EQ(b32.margin, b64.margin);
        EXPECT_NEAR(b32.margin, blameMargin(m64.toDtype(at::kFloat).toDtype(at::kDouble), q), 1e-12);
    });
}

// A half-precision model: evaluated in place (the loss without gradients, in float32 from the
// stored values), refused for training with a message that says what to do.
TEST(HalfPrecisionModels, EvaluatedInPlaceRefusedForTraining) {
    const auto base = brillm::testing::randomModel(30, 8, 0.3, 6, at::kFloat);
    const Model bf = base.toDtype(at::kBFloat16);
    const Model exact = bf.toDtype(at::kFloat);
    std::vector<LossSample> batch{LossSample::exactCandidates({1, 4, 9, 2, 2, 7}, bf.edges)};
    const auto a = sampledLoss(bf, batch, LossOptions{false, 1});
    const auto b = sampledLoss(exact, batch, LossOptions{false, 1});
    EXPECT_EQ(a.loss, b.loss); // the same float32 values, the same kernels
    try {
        sampledLoss(bf, batch, LossOptions{true, 1});
        FAIL() << "training a bfloat16 model must be refused";
    } catch (const InputError& e) {
        EXPECT_NE(std::string(e.what()).find("bfloat16"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("float32"), std::string::npos) << e.what();
    }
    EXPECT_EQ(exactLoss(bf, std::vector<int32_t>{1, 4, 9, 2}).loss,
              exactLoss(exact, std::vector<int32_t>{1, 4, 9, 2}).loss);
}

// A bfloat16 model file decodes from the mapping: no float32 copy, the same tokens as the same
// values held in float32.
TEST(HalfPrecisionModels, Bfloat16FileDecodesFromTheMapping) {
    const auto dir = std::filesystem::temp_directory_path() / ("brillm_simd_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "m.brillm").string();
    const auto base = brillm::testing::randomModel(50, 32, 0.2, 8, at::kFloat);
    ModelSaveOptions so;
    so.dtype = StorageDtype::BF16;
    ModelFile::save(path, base, {}, so);
    {
        const ModelFile f = ModelFile::open(path);
        const Model m = f.model();
        EXPECT_EQ(m.dtype(), at::kBFloat16);
        EXPECT_TRUE(f.mapping()->contains(m.weights.data_ptr()));
        EXPECT_TRUE(f.mapping()->contains(m.nodeBias.data_ptr()));
        const Model asFloat = f.model(at::kFloat);
        DecodeOptions o;
        o.maxNewTokens = 20;
        const auto t1 = decode(m, std::vector<int32_t>{7}, o), t2 = decode(asFloat, std::vector<int32_t>{7}, o);
        EXPECT_EQ(t1.tokens, t2.tokens);
        ASSERT_EQ(t1.steps.size(), t2.steps.size());
        for (size_t i = 0; i < t1.steps.size(); ++i)
            for (size_t v = 0; v < t1.steps[i].energies.size(); ++v) {
                const double a = t1.steps[i].energies[v], b = t2.steps[i].energies[v];
                EXPECT_TRUE(a == b || (std::isnan(a) && std::isnan(b)))
                    << "step " << i << " target " << v; // NaN: the self-loop
            }
    }
    std::filesystem::remove_all(dir);
}
