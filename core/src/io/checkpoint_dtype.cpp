// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/checkpoint_dtype.h"

#include <array>
#include <string>

namespace brillm {

namespace {

struct DtypeInfo {
    StorageDtype dtype;
    size_t size;
    const char* safetensors;
    const char* shortName;
};

constexpr std::array<DtypeInfo, 10> kInfo{{
    {StorageDtype::F64, 8, "F64", "f64"},
    {StorageDtype::F32, 4, "F32", "f32"},
    {StorageDtype::F16, 2, "F16", "f16"},
    {StorageDtype::BF16, 2, "BF16", "bf16"},
    {StorageDtype::I64, 8, "I64", "i64"},
    {StorageDtype::I32, 4, "I32", "i32"},
    {StorageDtype::I16, 2, "I16", "i16"},
    {StorageDtype::I8, 1, "I8", "i8"},
    {StorageDtype::U8, 1, "U8", "u8"},
    {StorageDtype::Bool, 1, "BOOL", "bool"},
}};

const DtypeInfo& info(StorageDtype dtype) {
    return kInfo[static_cast<size_t>(dtype)];
}

} // namespace

size_t elementSize(StorageDtype dtype) {
    return info(dtype).size;
}
const char* safetensorsName(StorageDtype dtype) {
    return info(dtype).safetensors;
}
const char* shortName(StorageDtype dtype) {
    return info(dtype).shortName;
}

std::optional<StorageDtype> dtypeFromSafetensorsName(std::string_view name) {
    for (const auto& i : kInfo)
        if (name == i.safetensors) return i.dtype;
    return std::nullopt;
}

std::optional<StorageDtype> parseFloatDtype(std::string_view text) {
    std::string t(text);
    for (char& c : t)
        c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (t == "f32" || t == "fp32" || t == "float32" || t == "float") return StorageDtype::F32;
    if (t == "f16" || t == "fp16" || t == "float16" || t == "half") return StorageDtype::F16;
    if (t == "bf16" || t == "bfloat16") return StorageDtype::BF16;
    if (t == "f64" || t == "fp64" || t == "float64" || t == "double") return StorageDtype::F64;
    return std::nullopt;
}

bool isFloating(StorageDtype dtype) {
    return dtype == StorageDtype::F64 || dtype == StorageDtype::F32 || dtype == StorageDtype::F16 ||
           dtype == StorageDtype::BF16;
}

} // namespace brillm
