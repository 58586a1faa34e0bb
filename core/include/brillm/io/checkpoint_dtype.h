// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// StorageDtype: the element types a checkpoint file may hold (our model file, a safetensors
// file, a torch.save storage), independent of LibTorch so the file parsers stay torch-free.
// model_file.h converts to and from at::ScalarType.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace brillm {

enum class StorageDtype : uint8_t { F64, F32, F16, BF16, I64, I32, I16, I8, U8, Bool };

// Bytes per element.
size_t elementSize(StorageDtype dtype);
// The safetensors spelling: "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL".
const char* safetensorsName(StorageDtype dtype);
std::optional<StorageDtype> dtypeFromSafetensorsName(std::string_view name);
// Short lower-case spelling for messages and options: "f32", "f16", "bf16", "f64", "i64", ...
const char* shortName(StorageDtype dtype);
// Accepts the short names and the usual aliases (fp32, float32, float, fp16, half, float16,
// bfloat16, fp64, float64, double). Floating types only; nullopt for anything else.
std::optional<StorageDtype> parseFloatDtype(std::string_view text);
bool isFloating(StorageDtype dtype);

} // namespace brillm
