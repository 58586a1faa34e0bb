// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: a whole torch.save file - zip container, data.pkl, storage records.
// Any outcome but a state dict or a CheckpointError is a bug; every tensor's last element
// must lie inside its storage bytes (AddressSanitizer checks the reads).
#include "brillm/error.h"
#include "brillm/io/torch_checkpoint.h"

#include <cstddef>
#include <cstdint>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data),
                                 reinterpret_cast<const std::byte*>(data) + size);
    try {
        const auto c = brillm::TorchCheckpoint::fromMapping(brillm::MappedFile::fromBytes(std::move(bytes), "fuzz.pt"));
        volatile uint8_t sink = 0;
        for (const auto& r : c.tensors()) {
            const auto storage = c.storageBytes(r, /*verifyCrc=*/true);
            int64_t last = r.storageOffset;
            bool empty = false;
            for (size_t k = 0; k < r.shape.size(); ++k) {
                if (r.shape[k] == 0)
                    empty = true;
                else
                    last += (r.shape[k] - 1) * r.stride[k];
            }
            if (empty) continue;
            const size_t es = brillm::elementSize(r.dtype);
            sink = sink ^ std::to_integer<uint8_t>(storage[static_cast<size_t>(last) * es + es - 1]);
        }
    } catch (const brillm::CheckpointError&) {
    }
    return 0;
}
