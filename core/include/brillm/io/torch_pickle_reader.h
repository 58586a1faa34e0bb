// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TorchPickleReader: a restricted unpickler for the data.pkl of a torch.save file.
//
// Pickle is a program for a stack machine that can call any Python function; this reader
// executes only data-building opcodes (protocols 2 to 4: dicts, lists, tuples, strings,
// numbers, booleans, None, memo, marks) and resolves GLOBAL to an allow-list of inert names:
// torch's tensor rebuild functions and storage classes, collections.OrderedDict,
// argparse.Namespace (trainer arguments), torch.Size, torch.device, set/frozenset and
// _codecs.encode. Nothing is ever called: a REDUCE of an allowed name builds a plain value.
// Anything else is a CheckpointError naming the file, the byte offset and the opcode or name.
// Memory is linear in the pickle's size; there is no recursion over the input.
//
// readStateDict() then finds the state dict: the top-level dict itself, or its
// "model_state_dict" / "state_dict" entry (the trainer's {"model_state_dict", "args",
// "epoch", ...} checkpoints). Keys lose a "module." (distributed runs) or "_orig_mod."
// (torch.compile) prefix. Torch-free; thread-safe (pure function).

#include "brillm/io/checkpoint_dtype.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace brillm {

// One tensor of the state dict: where its elements lie in which storage.
struct TorchTensorRecord {
    std::string key;         // with any "module." / "_orig_mod." prefix removed
    std::string originalKey; // as in the file
    StorageDtype dtype = StorageDtype::F32;
    std::vector<int64_t> shape;
    std::vector<int64_t> stride; // in elements
    int64_t storageOffset = 0;   // in elements
    std::string storageKey;      // the record "<archive>/data/<storageKey>"
    int64_t storageNumel = 0;    // elements of the whole storage
    bool requiresGrad = false;
};

struct TorchStateDict {
    std::string layout;                     // "state dict" or "trainer checkpoint ('model_state_dict')", ...
    std::vector<TorchTensorRecord> tensors; // in file order
    std::vector<std::string> notes;         // what was ignored or adjusted
    // The checkpoint's other top-level entries (args, epoch, ...) as JSON, when they are plain
    // data; tensors and other objects appear as short placeholders. "{}" when there are none.
    std::string extrasJson = "{}";
};

class TorchPickleReader {
public:
    // `where` names the source in messages (e.g. "model.bin/archive/data.pkl").
    static TorchStateDict readStateDict(std::span<const std::byte> pickle, const std::string& where);
};

} // namespace brillm
