// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TorchPickleWriter: the data.pkl of a torch.save state dict - a protocol-2 pickle of an
// OrderedDict mapping each key to torch._utils._rebuild_tensor_v2 of a contiguous tensor over
// its own storage record. Uses only what torch.load(weights_only=True) accepts. Torch-free;
// thread-safe (pure function).

#include "brillm/io/checkpoint_dtype.h"

#include <cstdint>
#include <string>
#include <vector>

namespace brillm {

struct PickleTensor {
    std::string key;
    StorageDtype dtype = StorageDtype::F32;
    std::vector<int64_t> shape;
    std::string storageKey; // the record "<archive>/data/<storageKey>"
};

class TorchPickleWriter {
public:
    // Throws CheckpointError for a dtype without a torch storage class or a negative dimension.
    static std::string stateDict(const std::vector<PickleTensor>& tensors);
};

} // namespace brillm
