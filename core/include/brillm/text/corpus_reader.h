// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// CorpusReader: streams the lines of one or more UTF-8 text files in chunks of whole lines,
// in bounded memory (one chunk plus the longest line), checking UTF-8 line by line.
//
// A line is the text between '\n's, without the '\n' and without a trailing '\r'.
// Invalid UTF-8 either stops the read (InputError naming file, line and byte) or skips the
// line and counts it. Not thread-safe: one reader per thread (the bigram counter reads on
// one thread and tokenises on others).

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace brillm {

enum class InvalidUtf8Policy { Stop, Skip };

// "stop" / "skip"; throws InputError otherwise.
InvalidUtf8Policy invalidUtf8PolicyFromName(std::string_view name);

struct CorpusOptions {
    InvalidUtf8Policy onInvalidUtf8 = InvalidUtf8Policy::Stop;
    size_t chunkBytes = size_t{1} << 20; // target text per chunk
};

struct CorpusStats {
    uint64_t bytes = 0; // bytes read, newlines included
    uint64_t lines = 0; // lines delivered (empty ones included)
    uint64_t nonEmptyLines = 0;
    uint64_t skippedLines = 0; // invalid UTF-8, with InvalidUtf8Policy::Skip
    // The first skipped line, for messages: "FILE:LINE".
    std::string firstSkipped;
};

struct CorpusChunk {
    std::string text;                                 // the lines' bytes, back to back
    std::vector<std::pair<uint32_t, uint32_t>> lines; // (offset, length) into text
    uint64_t firstLineNumber = 0;                     // 1-based, in its file (for messages)
    size_t size() const { return lines.size(); }
    std::string_view line(size_t i) const { return std::string_view(text).substr(lines[i].first, lines[i].second); }
};

class CorpusReader {
public:
    // Throws InputError when a file cannot be opened (checked up front, all files).
    explicit CorpusReader(std::vector<std::filesystem::path> files, CorpusOptions options = {});
    ~CorpusReader();
    CorpusReader(const CorpusReader&) = delete;
    CorpusReader& operator=(const CorpusReader&) = delete;

    // Fills chunk with the next lines; false at the end of the last file.
    // Throws InputError on invalid UTF-8 (with InvalidUtf8Policy::Stop) or a read error.
    bool next(CorpusChunk& chunk);

    const CorpusStats& stats() const { return m_stats; }
    uint64_t totalBytes() const { return m_totalBytes; } // sum of the file sizes
    const std::vector<std::filesystem::path>& files() const { return m_files; }

    // Throws InputError("... is empty ...") when no non-empty line was read.
    void requireNonEmpty() const;

private:
    bool openNext();

    std::vector<std::filesystem::path> m_files;
    CorpusOptions m_options;
    size_t m_fileIndex = 0;
    std::FILE* m_file = nullptr;
    uint64_t m_lineNumber = 0; // in the current file
    std::string m_carry;       // partial line from the previous read
    std::string m_buffer;
    uint64_t m_totalBytes = 0;
    CorpusStats m_stats;
};

// Calls fn(line) for every line, sequentially. Returns the stats; throws like next().
CorpusStats forEachLine(const std::vector<std::filesystem::path>& files, const CorpusOptions& options,
                        const std::function<void(std::string_view)>& fn);

} // namespace brillm
