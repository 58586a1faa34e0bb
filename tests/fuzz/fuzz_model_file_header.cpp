// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the model-file header parser (safetensors index, metadata, edge table).
// Any outcome but a parsed header or a CheckpointError is a bug.
#include "brillm/error.h"
#include "brillm/io/model_file_header.h"

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
    try {
        const brillm::ModelFileHeader h = brillm::ModelFileHeader::parse(bytes, "fuzz.brillm");
        // Touch what a loader would: every tensor's bytes and the re-encoded metadata.
        volatile uint8_t sink = 0;
        for (const auto& e : h.layout.entries) {
            const auto b = h.layout.bytesOf(e, bytes);
            if (!b.empty()) sink = sink ^ std::to_integer<uint8_t>(b.front()) ^ std::to_integer<uint8_t>(b.back());
        }
        (void)h.metadata();
        (void)h.edges.numSlots();
    } catch (const brillm::CheckpointError&) {
    }
    return 0;
}
