// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/io/torch_checkpoint.h"

#include "brillm/error.h"

namespace brillm {

TorchCheckpoint TorchCheckpoint::open(const std::string& path) {
    return fromMapping(MappedFile::open(path));
}

TorchCheckpoint TorchCheckpoint::fromMapping(std::shared_ptr<const MappedFile> file) {
    TorchCheckpoint c{TorchZipReader(std::move(file))};
    const std::string& path = c.path();
    // torch.save names every record "<archive>/..."; the archive name is the file's stem at
    // save time (or "archive"), so find it through data.pkl.
    const ZipEntry* pkl = nullptr;
    for (const auto& e : c.m_zip.entries()) {
        const auto slash = e.name.find('/');
        if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
            if (pkl) throw CheckpointError("'" + path + "' holds more than one data.pkl record");
            pkl = &e;
            c.m_archive = e.name.substr(0, slash);
        }
    }
    if (!pkl)
        throw CheckpointError("'" + path +
                              "' is a zip file without a \"<archive>/data.pkl\" record: not a torch.save file");
    if (const ZipEntry* order = c.m_zip.find(c.m_archive + "/byteorder")) {
        const auto bytes = c.m_zip.data(*order);
        const std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        if (text != "little")
            throw CheckpointError("'" + path + "' was saved in byte order \"" + text.substr(0, 16) +
                                  "\"; only little-endian checkpoints are supported");
    }
    c.m_stateDict = TorchPickleReader::readStateDict(c.m_zip.data(*pkl, /*verifyCrc=*/true), path + ":" + pkl->name);
    for (const auto& r : c.m_stateDict.tensors) {
        const ZipEntry* e = c.m_zip.find(c.m_archive + "/data/" + r.storageKey);
        if (!e)
            throw CheckpointError("'" + path + "': tensor \"" + r.originalKey + "\" needs storage record \"" +
                                  c.m_archive + "/data/" + r.storageKey + "\", which is missing");
        const uint64_t need = static_cast<uint64_t>(r.storageNumel) * elementSize(r.dtype);
        if (static_cast<uint64_t>(r.storageNumel) > UINT64_MAX / elementSize(r.dtype) || e->size < need)
            throw CheckpointError("'" + path + "': storage record \"" + e->name + "\" has " + std::to_string(e->size) +
                                  " bytes, expected " + std::to_string(need) + " for tensor \"" + r.originalKey +
                                  "\" - the file is truncated or damaged");
        c.m_zip.data(*e); // rejects a compressed storage now rather than on first use
    }
    return c;
}

const TorchTensorRecord* TorchCheckpoint::find(const std::string& key) const {
    for (const auto& r : m_stateDict.tensors)
        if (r.key == key) return &r;
    return nullptr;
}

std::span<const std::byte> TorchCheckpoint::storageBytes(const TorchTensorRecord& record, bool verifyCrc) const {
    const ZipEntry* e = m_zip.find(m_archive + "/data/" + record.storageKey);
    if (!e) throw CheckpointError("'" + path() + "': no storage record for \"" + record.originalKey + "\"");
    return m_zip.data(*e, verifyCrc);
}

bool TorchCheckpoint::isContiguous(const TorchTensorRecord& record) {
    for (int64_t n : record.shape)
        if (n == 0) return true;
    int64_t expected = 1;
    for (size_t k = record.shape.size(); k-- > 0;) {
        if (record.shape[k] != 1 && record.stride[k] != expected) return false;
        expected *= record.shape[k];
    }
    return true;
}

} // namespace brillm
