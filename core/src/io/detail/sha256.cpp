// SPDX-License-Identifier: GPL-3.0-or-later
#include "io/detail/sha256.h"

#include "brillm/error.h"

#include <openssl/evp.h>

namespace brillm {

struct Sha256::Context {
    EVP_MD_CTX* md = nullptr;
    ~Context() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : m_ctx(std::make_unique<Context>()) {
    m_ctx->md = EVP_MD_CTX_new();
    if (!m_ctx->md || EVP_DigestInit_ex(m_ctx->md, EVP_sha256(), nullptr) != 1)
        throw Error("SHA-256: OpenSSL could not start a digest");
}

Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::span<const std::byte> data) {
    if (m_finished) throw Error("SHA-256: update after finish");
    if (data.empty()) return;
    if (EVP_DigestUpdate(m_ctx->md, data.data(), data.size()) != 1)
        throw Error("SHA-256: OpenSSL digest update failed");
}

Sha256::Digest Sha256::finish() {
    if (m_finished) throw Error("SHA-256: finish called twice");
    m_finished = true;
    Digest d{};
    unsigned int n = 0;
    if (EVP_DigestFinal_ex(m_ctx->md, d.data(), &n) != 1 || n != d.size())
        throw Error("SHA-256: OpenSSL digest final failed");
    return d;
}

Sha256::Digest Sha256::of(std::span<const std::byte> data) {
    Sha256 h;
    h.update(data);
    return h.finish();
}

std::string Sha256::hex(const Digest& digest) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(64, '0');
    for (size_t i = 0; i < digest.size(); ++i) {
        out[2 * i] = kHex[digest[i] >> 4];
        out[2 * i + 1] = kHex[digest[i] & 15];
    }
    return out;
}

} // namespace brillm
