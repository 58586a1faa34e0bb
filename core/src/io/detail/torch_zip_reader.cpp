// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/torch_zip_reader.h"

#include "brillm/error.h"
#include "io/detail/checksum.h"

#include <algorithm>
#include <unordered_set>

namespace brillm {

namespace {

constexpr uint32_t kLocalSig = 0x04034b50, kCentralSig = 0x02014b50, kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50, kLocator64Sig = 0x07064b50;
constexpr size_t kEndSize = 22, kLocator64Size = 20, kEnd64Size = 56, kCentralSize = 46, kLocalSize = 30;

// Little-endian reads that check bounds against the whole file.
class Bytes {
public:
    Bytes(std::span<const std::byte> data, const std::string& file) : m_data(data), m_file(file) {}

    bool has(uint64_t offset, uint64_t n) const { return offset <= m_data.size() && n <= m_data.size() - offset; }
    uint64_t le(uint64_t offset, int n) const {
        if (!has(offset, static_cast<uint64_t>(n))) fail("a record runs past the end of the file (truncated?)");
        uint64_t v = 0;
        for (int i = n - 1; i >= 0; --i)
            v = (v << 8) | std::to_integer<uint64_t>(m_data[offset + static_cast<uint64_t>(i)]);
        return v;
    }
    uint16_t u16(uint64_t o) const { return static_cast<uint16_t>(le(o, 2)); }
    uint32_t u32(uint64_t o) const { return static_cast<uint32_t>(le(o, 4)); }
    uint64_t u64(uint64_t o) const { return le(o, 8); }
    std::string str(uint64_t offset, uint64_t n) const {
        if (!has(offset, n)) fail("a file name runs past the end of the file (truncated?)");
        return {reinterpret_cast<const char*>(m_data.data() + offset), static_cast<size_t>(n)};
    }
    [[noreturn]] void fail(const std::string& what) const {
        throw CheckpointError("'" + m_file + "' is not a valid torch.save file: " + what);
    }
    size_t size() const { return m_data.size(); }

private:
    std::span<const std::byte> m_data;
    const std::string& m_file;
};

} // namespace

TorchZipReader::TorchZipReader(std::shared_ptr<const MappedFile> file) : m_file(std::move(file)) {
    const std::string& path = m_file->path();
    const Bytes b(m_file->bytes(), path);
    if (b.size() >= 2 && std::to_integer<uint8_t>(m_file->bytes()[0]) == 0x80)
        b.fail("it is a legacy torch.save file (PyTorch before 1.6, a bare pickle), which is not supported: "
               "re-save it with torch.save in a recent PyTorch");
    if (b.size() < kEndSize || b.u32(0) != kLocalSig)
        b.fail("it is not a zip archive (torch.save writes a zip file starting with \"PK\")");

    // The end record sits in the last 22 bytes plus a comment of up to 64 KiB.
    uint64_t end = UINT64_MAX;
    const uint64_t lowest = b.size() > kEndSize + 0xFFFF ? b.size() - kEndSize - 0xFFFF : 0;
    for (uint64_t o = b.size() - kEndSize + 1; o-- > lowest;) {
        if (b.u32(o) == kEndSig && o + kEndSize + b.u16(o + 20) == b.size()) {
            end = o;
            break;
        }
    }
    if (end == UINT64_MAX) b.fail("no end-of-central-directory record (the file is truncated)");
    uint64_t count = b.u16(end + 10);
    uint64_t cdSize = b.u32(end + 12);
    uint64_t cdOffset = b.u32(end + 16);
    if (b.u16(end + 4) != 0 || b.u16(end + 6) != 0 || b.u16(end + 8) != count)
        b.fail("multi-disk zip archives are not supported");
    if (count == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF) {
        if (end < kLocator64Size || b.u32(end - kLocator64Size) != kLocator64Sig)
            b.fail("the zip64 end-of-central-directory locator is missing");
        const uint64_t end64 = b.u64(end - kLocator64Size + 8);
        if (!b.has(end64, kEnd64Size) || b.u32(end64) != kEnd64Sig)
            b.fail("the zip64 end-of-central-directory record is missing or out of bounds");
        count = b.u64(end64 + 32);
        cdSize = b.u64(end64 + 40);
        cdOffset = b.u64(end64 + 48);
    }
    if (!b.has(cdOffset, cdSize)) b.fail("the central directory lies outside the file (truncated?)");
    if (count > cdSize / kCentralSize) b.fail("the central directory is too small for its entry count");

    std::unordered_set<std::string> names;
    m_entries.reserve(static_cast<size_t>(count));
    uint64_t p = cdOffset;
    for (uint64_t i = 0; i < count; ++i) {
        if (p + kCentralSize > cdOffset + cdSize || b.u32(p) != kCentralSig)
            b.fail("central directory entry " + std::to_string(i) + " is damaged");
        ZipEntry e;
        e.flags = b.u16(p + 8);
        e.method = b.u16(p + 10);
        e.crc = b.u32(p + 16);
        e.compressedSize = b.u32(p + 20);
        e.size = b.u32(p + 24);
        const uint64_t nameLen = b.u16(p + 28), extraLen = b.u16(p + 30), commentLen = b.u16(p + 32);
        e.headerOffset = b.u32(p + 42);
        e.name = b.str(p + kCentralSize, nameLen);
        // Zip64 extended information: only the fields saturated in the fixed part, in order.
        const uint64_t extraEnd = p + kCentralSize + nameLen + extraLen;
        if (!b.has(p, kCentralSize + nameLen + extraLen + commentLen) || extraEnd + commentLen > cdOffset + cdSize)
            b.fail("central directory entry \"" + e.name + "\" runs past the directory");
        for (uint64_t x = p + kCentralSize + nameLen; x + 4 <= extraEnd;) {
            const uint16_t id = b.u16(x), len = b.u16(x + 2);
            if (x + 4 + len > extraEnd) b.fail("a damaged extra field in entry \"" + e.name + "\"");
            if (id == 0x0001) {
                uint64_t q = x + 4;
                auto take = [&](uint64_t& field) {
                    if (q + 8 > x + 4 + len) b.fail("a short zip64 field in entry \"" + e.name + "\"");
                    field = b.u64(q);
                    q += 8;
                };
                if (e.size == 0xFFFFFFFF) take(e.size);
                if (e.compressedSize == 0xFFFFFFFF) take(e.compressedSize);
                if (e.headerOffset == 0xFFFFFFFF) take(e.headerOffset);
            }
            x += 4 + len;
        }
        if (!names.insert(e.name).second) b.fail("the archive lists \"" + e.name + "\" twice");
        // The data follows the local header, whose extra field (torch pads it for alignment)
        // may differ from the central one.
        if (!b.has(e.headerOffset, kLocalSize) || b.u32(e.headerOffset) != kLocalSig)
            b.fail("the local header of \"" + e.name + "\" is missing (truncated or damaged file)");
        e.dataOffset = e.headerOffset + kLocalSize + b.u16(e.headerOffset + 26) + b.u16(e.headerOffset + 28);
        if (!b.has(e.dataOffset, e.compressedSize))
            b.fail("the data of \"" + e.name + "\" runs past the end of the file (" + std::to_string(e.compressedSize) +
                   " bytes at offset " + std::to_string(e.dataOffset) + " in a file of " + std::to_string(b.size()) +
                   ") - truncated");
        m_entries.push_back(std::move(e));
        p = extraEnd + commentLen;
    }
}

const ZipEntry* TorchZipReader::find(std::string_view name) const {
    for (const auto& e : m_entries)
        if (e.name == name) return &e;
    return nullptr;
}

std::span<const std::byte> TorchZipReader::data(const ZipEntry& e, bool verifyCrc) const {
    const std::string& path = m_file->path();
    if (e.flags & 1u)
        throw CheckpointError("'" + path + "': entry \"" + e.name + "\" is encrypted, which torch.save never does");
    if (e.method != 0)
        throw CheckpointError(
            "'" + path + "': entry \"" + e.name + "\" is compressed (zip method " + std::to_string(e.method) +
            "); torch.save writes stored entries - was the file re-zipped? Re-save it with torch.save");
    if (e.compressedSize != e.size)
        throw CheckpointError("'" + path + "': stored entry \"" + e.name + "\" has different sizes in its header");
    const auto bytes = m_file->bytes().subspan(static_cast<size_t>(e.dataOffset), static_cast<size_t>(e.size));
    if (verifyCrc && crc32(bytes) != e.crc)
        throw CheckpointError("'" + path + "': entry \"" + e.name + "\" fails its CRC-32 check - the file is damaged");
    return bytes;
}

} // namespace brillm
