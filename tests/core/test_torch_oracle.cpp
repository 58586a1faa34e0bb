// SPDX-License-Identifier: GPL-3.0-or-later
// Our torch.save export read by LibTorch's own zip reader (caffe2's PyTorchStreamReader, what
// torch.load opens the file with): an independent oracle that runs in CI, where Python's torch
// is not installed. Each storage record must hold exactly the tensor's bytes, in the order the
// pickle names them (0: weights, 1: biases, 2: node_bias, 3: positions). The pickle itself is
// checked by Python's torch.load in PythonTorchLoadsOurExport where that is installed: LibTorch's
// C++ unpickler cannot serve, since it reads every collections.OrderedDict as None (it expects
// one only as a tensor's backward hooks), so it rejects Python's own state dicts too.
#include "brillm/io/checkpoint_export.h"
#include "test_checkpoint_util.h"

#include <ATen/ATen.h>
#include <caffe2/serialize/inline_container.h>

#include <gtest/gtest.h>

#include <cstring>

namespace brillm {
namespace {

using test::ScratchDir;

void expectLibTorchReads(const std::string& path, const Model& m, at::ScalarType want) {
    caffe2::serialize::PyTorchStreamReader reader(path);
    EXPECT_TRUE(reader.hasRecord("data.pkl")) << path;
    ASSERT_TRUE(reader.hasRecord("byteorder")) << path;
    const auto [order, orderSize] = reader.getRecord("byteorder");
    EXPECT_EQ(std::string(static_cast<const char*>(order.get()), orderSize), "little");
    EXPECT_GE(reader.version(), 2u);
    const at::Tensor* expected[] = {&m.weights, &m.biases, &m.nodeBias, &m.positions};
    for (size_t k = 0; k < 4; ++k) {
        const std::string name = "data/" + std::to_string(k);
        ASSERT_TRUE(reader.hasRecord(name)) << path << ": " << name;
        const auto [data, size] = reader.getRecord(name);
        const at::Tensor t = expected[k]->to(want).contiguous();
        ASSERT_EQ(size, static_cast<size_t>(t.numel()) * t.element_size()) << path << ": " << name;
        EXPECT_EQ(std::memcmp(data.get(), t.data_ptr(), size), 0) << path << ": " << name;
        // the record starts 64-byte aligned, as torch.save writes it (torch.load maps it in place)
        EXPECT_EQ(reader.getRecordOffset(name) % 64, 0u) << path << ": " << name;
    }
}

TEST(TorchExport, LibTorchReadsOurExport) {
    ScratchDir dir;
    const Model m = test::smallModel(at::kFloat);
    exportTorchStateDict(dir.file("ours.pt"), m);
    expectLibTorchReads(dir.file("ours.pt"), m, at::kFloat);

    TorchExportOptions zip64;
    zip64.forceZip64 = true;
    exportTorchStateDict(dir.file("ours64.pt"), m, zip64);
    expectLibTorchReads(dir.file("ours64.pt"), m, at::kFloat);

    TorchExportOptions half;
    half.dtype = StorageDtype::BF16;
    exportTorchStateDict(dir.file("bf16.pt"), m, half);
    expectLibTorchReads(dir.file("bf16.pt"), m, at::kBFloat16);
}

TEST(TorchExport, LibTorchReadsOurDoubleExport) {
    ScratchDir dir;
    const Model m = test::smallModel(at::kDouble, 11);
    exportTorchStateDict(dir.file("f64.pt"), m);
    expectLibTorchReads(dir.file("f64.pt"), m, at::kDouble);
}

} // namespace
} // namespace brillm
