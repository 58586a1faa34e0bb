// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/text/corpus_reader.h"

#include "brillm/error.h"
#include "brillm/text/unicode.h"

#include <cerrno>
#include <cstring>

namespace brillm {

InvalidUtf8Policy invalidUtf8PolicyFromName(std::string_view name) {
    if (name == "stop") return InvalidUtf8Policy::Stop;
    if (name == "skip") return InvalidUtf8Policy::Skip;
    throw InputError("invalid UTF-8 policy '" + std::string(name) + "' (expected stop or skip)");
}

CorpusReader::CorpusReader(std::vector<std::filesystem::path> files, CorpusOptions options)
    : m_files(std::move(files)), m_options(options) {
    if (m_files.empty()) throw InputError("no corpus files given");
    if (m_options.chunkBytes < 4096) m_options.chunkBytes = 4096;
    for (const auto& f : m_files) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(f, ec))
            throw InputError("cannot open corpus " + f.string() + ": no such file");
        const auto size = std::filesystem::file_size(f, ec);
        if (ec) throw InputError("cannot open corpus " + f.string() + ": " + ec.message());
        m_totalBytes += size;
    }
    m_buffer.resize(m_options.chunkBytes);
}

CorpusReader::~CorpusReader() {
    if (m_file) std::fclose(m_file);
}

bool CorpusReader::openNext() {
    if (m_file) {
        std::fclose(m_file);
        m_file = nullptr;
    }
    if (m_fileIndex >= m_files.size()) return false;
    const auto& path = m_files[m_fileIndex++];
    m_file = std::fopen(path.c_str(), "rb");
    if (!m_file) throw InputError("cannot open corpus " + path.string() + ": " + std::strerror(errno));
    m_lineNumber = 0;
    m_carry.clear();
    return true;
}

bool CorpusReader::next(CorpusChunk& chunk) {
    chunk.text.clear();
    chunk.lines.clear();
    chunk.firstLineNumber = 0;
    if (!m_file && !openNext()) return false;

    const auto addLine = [&](std::string_view line) {
        ++m_lineNumber;
        m_stats.lines += 1;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (const size_t bad = unicode::findInvalidUtf8(line); bad != unicode::kValid) {
            const std::string where = m_files[m_fileIndex - 1].string() + ":" + std::to_string(m_lineNumber);
            if (m_options.onInvalidUtf8 == InvalidUtf8Policy::Stop)
                throw InputError(where + ": invalid UTF-8 at byte " + std::to_string(bad) +
                                 " of the line (choose to skip such lines to go on)");
            m_stats.skippedLines += 1;
            if (m_stats.firstSkipped.empty()) m_stats.firstSkipped = where;
            return;
        }
        if (chunk.lines.empty()) chunk.firstLineNumber = m_lineNumber;
        if (!line.empty()) m_stats.nonEmptyLines += 1;
        chunk.lines.emplace_back(static_cast<uint32_t>(chunk.text.size()), static_cast<uint32_t>(line.size()));
        chunk.text.append(line);
    };

    // Many empty lines fill the line table, not the text: bound both.
    while (chunk.text.size() < m_options.chunkBytes && chunk.lines.size() < m_options.chunkBytes / 8) {
        const size_t got = std::fread(m_buffer.data(), 1, m_buffer.size(), m_file);
        if (got == 0) {
            if (std::ferror(m_file))
                throw InputError("cannot read corpus " + m_files[m_fileIndex - 1].string() + ": " +
                                 std::strerror(errno));
            // End of this file: its last line may lack a '\n'.
            if (!m_carry.empty()) {
                addLine(m_carry);
                m_carry.clear();
            }
            if (!openNext()) break;
            continue;
        }
        m_stats.bytes += got;
        const std::string_view data(m_buffer.data(), got);
        size_t start = 0;
        while (true) {
            const size_t nl = data.find('\n', start);
            if (nl == std::string_view::npos) {
                m_carry.append(data.substr(start));
                break;
            }
            if (!m_carry.empty()) {
                m_carry.append(data.substr(start, nl - start));
                addLine(m_carry);
                m_carry.clear();
            } else {
                addLine(data.substr(start, nl - start));
            }
            start = nl + 1;
        }
    }
    return !chunk.lines.empty();
}

void CorpusReader::requireNonEmpty() const {
    if (m_stats.nonEmptyLines > 0) return;
    std::string names;
    for (const auto& f : m_files)
        names += (names.empty() ? "" : ", ") + f.string();
    throw InputError(
        "the corpus is empty (" + names + ": " + std::to_string(m_stats.lines) + " lines, none with text" +
        (m_stats.skippedLines ? ", " + std::to_string(m_stats.skippedLines) + " skipped for invalid UTF-8" : "") + ")");
}

CorpusStats forEachLine(const std::vector<std::filesystem::path>& files, const CorpusOptions& options,
                        const std::function<void(std::string_view)>& fn) {
    CorpusReader reader(files, options);
    CorpusChunk chunk;
    while (reader.next(chunk))
        for (size_t i = 0; i < chunk.size(); ++i)
            fn(chunk.line(i));
    return reader.stats();
}

} // namespace brillm
