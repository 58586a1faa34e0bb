// SPDX-License-Identifier: GPL-3.0-or-later
// brillm split: a deterministic train / held-out split of a corpus by paragraphs.
#include "args.h"
#include "commands.h"

#include "brillm/error.h"
#include "brillm/io/checkpoint_writer.h"
#include "brillm/text/corpus_sequences.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <unistd.h>
#include <vector>

namespace brillm::cli {
namespace {

// The paragraphs one per line with a blank line between them: readParagraphs reads such a file
// line by line (it has fewer than half as many blank lines as text lines only for one paragraph,
// which is then read whole either way), so it gives back exactly these paragraphs.
std::string paragraphText(const std::vector<const std::string*>& paragraphs) {
    std::string out;
    for (const auto* p : paragraphs) {
        if (!out.empty()) out += '\n';
        out += *p;
        out += '\n';
    }
    return out;
}

} // namespace

int runSplit(const Args& args) {
    int64_t every = 0, offset = 0;
    std::string trainOut, heldOut;
    // FILE...: as many positional slots as there are arguments
    std::vector<std::string> files(std::max<size_t>(1, args.size()));
    ArgParser p("brillm split",
                "Splits text files into a training and a held-out file by paragraphs (the trainer's rule: blank-line\n"
                "separated paragraphs when the text has them, else one per line). Paragraphs are numbered from 0\n"
                "across the files in order; paragraph i is held out when i % K == OFFSET. Both outputs hold one\n"
                "paragraph per line with a blank line between them, and are written atomically.");
    p.option("every", &every, "K", "hold out every K-th paragraph (K >= 2)");
    p.option("offset", &offset, "OFFSET", "which one of each K (0 .. K-1, default 0)");
    p.option("train", &trainOut, "FILE", "output: the training paragraphs");
    p.option("held-out", &heldOut, "FILE", "output: the held-out paragraphs");
    for (size_t i = 0; i < files.size(); ++i)
        p.positional(i == 0 ? "FILE..." : "FILE", &files[i], i == 0 ? "input text files" : "", i == 0);
    p.required("every");
    p.required("train");
    p.required("held-out");
    if (!p.parse(args)) return 0;
    std::erase_if(files, [](const std::string& f) { return f.empty(); });
    if (every < 2) throw UsageError("--every must be at least 2");
    if (offset < 0 || offset >= every)
        throw UsageError("--offset must be between 0 and K-1 = " + std::to_string(every - 1));
    if (std::filesystem::path(trainOut).lexically_normal() == std::filesystem::path(heldOut).lexically_normal())
        throw UsageError("--train and --held-out name the same file");

    std::vector<std::string> paragraphs;
    for (const auto& f : files) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(f, ec))
            throw InputError("cannot read " + f +
                             (std::filesystem::exists(f, ec) ? ": not a regular file" : ": no such file"));
        auto ps = readParagraphs(f);
        paragraphs.insert(paragraphs.end(), std::make_move_iterator(ps.begin()), std::make_move_iterator(ps.end()));
    }
    if (paragraphs.empty())
        throw InputError("the input (" + files.front() + (files.size() > 1 ? ", ..." : "") + ") has no paragraph");

    std::vector<const std::string*> train, held;
    for (size_t i = 0; i < paragraphs.size(); ++i)
        (static_cast<int64_t>(i % static_cast<size_t>(every)) == offset ? held : train).push_back(&paragraphs[i]);
    const std::string trainText = paragraphText(train), heldText = paragraphText(held);

    // both written and synced before either is renamed into place
    CheckpointWriter trainFile(trainOut), heldFile(heldOut);
    trainFile.write(trainText.data(), trainText.size());
    heldFile.write(heldText.data(), heldText.size());
    trainFile.sync();
    heldFile.sync();
    trainFile.commit();
    heldFile.commit();
    std::printf("%zu paragraphs from %zu file%s\n", paragraphs.size(), files.size(), files.size() == 1 ? "" : "s");
    std::printf("train     %s: %zu paragraphs, %zu bytes\n", trainOut.c_str(), train.size(), trainText.size());
    std::printf("held-out  %s: %zu paragraphs, %zu bytes (every %lld-th from %lld)\n", heldOut.c_str(), held.size(),
                heldText.size(), static_cast<long long>(every), static_cast<long long>(offset));
    return 0;
}

} // namespace brillm::cli
