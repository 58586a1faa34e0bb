// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Sha256: the SHA-256 digest (FIPS 180-4), incremental. Uses the x86 SHA extensions when the
// CPU has them (about 2 GB/s), a portable implementation otherwise (about 0.3 GB/s).
// Not thread-safe per object; independent objects may be used from different threads.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace brillm {

class Sha256 {
public:
    using Digest = std::array<uint8_t, 32>;

    Sha256();
    void update(std::span<const std::byte> data);
    void update(const void* data, size_t size) { update({static_cast<const std::byte*>(data), size}); }
    // The digest of everything given so far; the object must not be updated afterwards.
    Digest finish();

    static Digest of(std::span<const std::byte> data);
    // Lower-case hexadecimal, 64 characters.
    static std::string hex(const Digest& digest);
    // Whether the hardware path is in use (for messages and benchmarks).
    static bool hardwareAccelerated();
    // Tests and benchmarks: turn the hardware path off (or back on where the CPU has it).
    // Not synchronised with running digests: call before hashing starts.
    static void setHardwareAcceleration(bool enabled);

private:
    void compress(const uint8_t* blocks, size_t count);

    std::array<uint32_t, 8> m_state;
    std::array<uint8_t, 64> m_buffer{};
    size_t m_buffered = 0;
    uint64_t m_length = 0;
    bool m_finished = false;
};

} // namespace brillm
