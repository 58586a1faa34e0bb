// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// SafetensorsHeader: the tensor index of a file in the safetensors layout
// (https://github.com/huggingface/safetensors): an 8-byte little-endian header length N, N
// bytes of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
// {string: string}}, then the data section, which the tensors cover exactly, without holes or
// overlaps (offsets are relative to the data section). Torch-free, so it can be fuzzed alone.
//
// parse() applies the checks of the reference implementation and a few more: header length
// within the file and at most 100 MB, a JSON object, known dtypes, non-negative integer shapes
// and offsets, byte sizes matching shape * element size (without overflow), and the tensors
// tiling the data section exactly. Every failure throws CheckpointError naming the file.

#include "brillm/io/checkpoint_dtype.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace brillm {

struct SafetensorsEntry {
    std::string name;
    StorageDtype dtype = StorageDtype::F32;
    std::vector<int64_t> shape;
    uint64_t begin = 0; // byte offsets relative to the data section
    uint64_t end = 0;

    uint64_t byteSize() const { return end - begin; }
    int64_t numel() const;
};

struct SafetensorsHeader {
    static constexpr uint64_t kMaxHeaderSize = 100'000'000;

    std::vector<SafetensorsEntry> entries; // in data order
    std::map<std::string, std::string> metadata;
    uint64_t dataStart = 0; // absolute offset of the data section: 8 + header length
    uint64_t dataSize = 0;

    const SafetensorsEntry* find(const std::string& name) const;
    // The bytes of an entry inside the whole file that was parsed.
    std::span<const std::byte> bytesOf(const SafetensorsEntry& entry, std::span<const std::byte> file) const {
        return file.subspan(static_cast<size_t>(dataStart + entry.begin), static_cast<size_t>(entry.byteSize()));
    }

    // `file` is the whole file (or at least its header plus a size check: the data section
    // must end exactly at file.size()).
    static SafetensorsHeader parse(std::span<const std::byte> file, const std::string& fileName);

    // Lays the entries out in the given order, contiguously from offset 0 (their begin/end are
    // set), and returns the file prefix: the 8-byte length plus the JSON header, padded with
    // spaces so the data section starts at a multiple of 8. Put entries with larger elements
    // first to keep every tensor aligned to its element size. Throws CheckpointError on a
    // metadata value that is not valid UTF-8 or a header above kMaxHeaderSize.
    static std::string serialize(std::vector<SafetensorsEntry>& entries,
                                 const std::map<std::string, std::string>& metadata);
};

} // namespace brillm
