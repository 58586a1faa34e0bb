// SPDX-License-Identifier: GPL-3.0-or-later
#include "io/detail/torch_zip_writer.h"

#include "brillm/error.h"
#include "io/detail/checksum.h"

namespace brillm {

namespace {

constexpr uint64_t kAlign = 64;
constexpr uint32_t kMax32 = 0xFFFFFFFF;

class Record {
public:
    void u16(uint64_t v) { le(v, 2); }
    void u32(uint64_t v) { le(v, 4); }
    void u64(uint64_t v) { le(v, 8); }
    void bytes(const std::string& s) { m_buf.insert(m_buf.end(), s.begin(), s.end()); }
    void fill(size_t n, char c) { m_buf.insert(m_buf.end(), n, c); }
    size_t size() const { return m_buf.size(); }
    std::span<const std::byte> span() const { return {reinterpret_cast<const std::byte*>(m_buf.data()), m_buf.size()}; }

private:
    void le(uint64_t v, int n) {
        for (int i = 0; i < n; ++i)
            m_buf.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
    std::string m_buf;
};

// DOS date/time of 1980-01-01 00:00: a fixed stamp keeps exports byte-reproducible.
constexpr uint16_t kDosTime = 0, kDosDate = (0 << 9) | (1 << 5) | 1;

} // namespace

TorchZipWriter::TorchZipWriter(CheckpointWriter& out, bool forceZip64) : m_out(out), m_forceZip64(forceZip64) {}

void TorchZipWriter::beginEntry(const std::string& name, uint64_t size) {
    if (m_open) throw CheckpointError("zip writer: entry \"" + m_entries.back().name + "\" is still open");
    if (name.empty() || name.size() > 0xFFFF) throw CheckpointError("zip writer: bad entry name");
    Entry e;
    e.name = name;
    e.headerOffset = m_out.position();
    e.size = size;
    e.zip64 = m_forceZip64 || size >= kMax32 || e.headerOffset >= kMax32;

    Record r;
    r.u32(0x04034b50);
    r.u16(e.zip64 ? 45 : 20); // version needed
    r.u16(1u << 11);          // flags: UTF-8 names
    r.u16(0);                 // stored
    r.u16(kDosTime);
    r.u16(kDosDate);
    r.u32(0); // CRC-32, patched by endEntry()
    r.u32(e.zip64 ? kMax32 : size);
    r.u32(e.zip64 ? kMax32 : size);
    r.u16(name.size());
    const size_t zip64Extra = e.zip64 ? 4 + 16 : 0;
    // Pad with torch's "FB" extra field so the data starts at a multiple of kAlign.
    const uint64_t fixed = e.headerOffset + 30 + name.size() + zip64Extra;
    uint64_t pad = (kAlign - (fixed + 4) % kAlign) % kAlign;
    r.u16(zip64Extra + 4 + pad);
    r.bytes(name);
    if (e.zip64) {
        r.u16(0x0001);
        r.u16(16);
        r.u64(size);
        r.u64(size);
    }
    r.u16(0x4246); // "FB"
    r.u16(pad);
    r.fill(static_cast<size_t>(pad), 'Z');
    m_out.write(r.span());
    m_entries.push_back(std::move(e));
    m_open = true;
    m_written = 0;
}

void TorchZipWriter::write(std::span<const std::byte> data) {
    if (!m_open) throw CheckpointError("zip writer: write() outside an entry");
    Entry& e = m_entries.back();
    if (data.size() > e.size - m_written)
        throw CheckpointError("zip writer: entry \"" + e.name + "\" is longer than announced");
    e.crc = crc32(data, e.crc);
    m_written += data.size();
    m_out.write(data);
}

void TorchZipWriter::endEntry() {
    if (!m_open) throw CheckpointError("zip writer: endEntry() without an entry");
    const Entry& e = m_entries.back();
    if (m_written != e.size)
        throw CheckpointError("zip writer: entry \"" + e.name + "\" got " + std::to_string(m_written) +
                              " bytes, announced " + std::to_string(e.size));
    Record crc;
    crc.u32(e.crc);
    m_out.writeAt(e.headerOffset + 14, crc.span());
    m_open = false;
}

void TorchZipWriter::addEntry(const std::string& name, std::span<const std::byte> data) {
    beginEntry(name, data.size());
    write(data);
    endEntry();
}

void TorchZipWriter::finish() {
    if (m_open) throw CheckpointError("zip writer: entry \"" + m_entries.back().name + "\" is still open");
    const uint64_t cdOffset = m_out.position();
    for (const auto& e : m_entries) {
        Record r;
        r.u32(0x02014b50);
        r.u16(e.zip64 ? 45 : 20); // version made by
        r.u16(e.zip64 ? 45 : 20); // version needed
        r.u16(1u << 11);
        r.u16(0);
        r.u16(kDosTime);
        r.u16(kDosDate);
        r.u32(e.crc);
        r.u32(e.zip64 ? kMax32 : e.size);
        r.u32(e.zip64 ? kMax32 : e.size);
        r.u16(e.name.size());
        r.u16(e.zip64 ? 4 + 24 : 0);
        r.u16(0); // comment
        r.u16(0); // disk
        r.u16(0); // internal attributes
        r.u32(0); // external attributes
        r.u32(e.zip64 ? kMax32 : e.headerOffset);
        r.bytes(e.name);
        if (e.zip64) {
            r.u16(0x0001);
            r.u16(24);
            r.u64(e.size);
            r.u64(e.size);
            r.u64(e.headerOffset);
        }
        m_out.write(r.span());
    }
    const uint64_t cdSize = m_out.position() - cdOffset;
    const uint64_t count = m_entries.size();
    const bool zip64 = m_forceZip64 || count >= 0xFFFF || cdOffset >= kMax32 || cdSize >= kMax32;
    Record r;
    if (zip64) {
        const uint64_t end64 = m_out.position();
        r.u32(0x06064b50);
        r.u64(56 - 12); // size of the rest of this record
        r.u16(45);
        r.u16(45);
        r.u32(0);
        r.u32(0);
        r.u64(count);
        r.u64(count);
        r.u64(cdSize);
        r.u64(cdOffset);
        r.u32(0x07064b50); // locator
        r.u32(0);
        r.u64(end64);
        r.u32(1);
    }
    r.u32(0x06054b50);
    r.u16(0);
    r.u16(0);
    r.u16(zip64 ? 0xFFFF : count);
    r.u16(zip64 ? 0xFFFF : count);
    r.u32(zip64 ? kMax32 : cdSize);
    r.u32(zip64 ? kMax32 : cdOffset);
    r.u16(0);
    m_out.write(r.span());
}

} // namespace brillm
