// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Sha256: the SHA-256 digest (FIPS 180-4), incremental, computed by OpenSSL's EVP interface
// (which picks the CPU's SHA extensions or vector code itself). Not thread-safe per object;
// independent objects may be used from different threads.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace brillm {

class Sha256 {
public:
    using Digest = std::array<uint8_t, 32>;

    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    void update(std::span<const std::byte> data);
    void update(const void* data, size_t size) { update({static_cast<const std::byte*>(data), size}); }
    // The digest of everything given so far; the object must not be updated afterwards.
    Digest finish();

    static Digest of(std::span<const std::byte> data);
    // Lower-case hexadecimal, 64 characters.
    static std::string hex(const Digest& digest);

private:
    struct Context;
    std::unique_ptr<Context> m_ctx;
    bool m_finished = false;
};

} // namespace brillm
