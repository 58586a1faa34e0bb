// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// CRC-32 (IEEE 802.3, the zip checksum), slicing-by-8. Thread-safe (pure function).

#include <cstddef>
#include <cstdint>
#include <span>

namespace brillm {

// crc32(b, crc32(a)) == crc32(a + b); crc32({}) == 0.
uint32_t crc32(std::span<const std::byte> data, uint32_t crc = 0);

} // namespace brillm
