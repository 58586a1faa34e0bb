// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the restricted unpickler alone (data.pkl bytes), which the zip's CRC
// otherwise shields from mutation. Any outcome but a state dict or a CheckpointError is a bug.
#include "brillm/error.h"
#include "brillm/io/torch_pickle_reader.h"

#include <cstddef>
#include <cstdint>
#include <span>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        const brillm::TorchStateDict sd = brillm::TorchPickleReader::readStateDict(
            std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), size), "fuzz.pkl");
        (void)sd.extrasJson.size();
    } catch (const brillm::CheckpointError&) {
    }
    return 0;
}
