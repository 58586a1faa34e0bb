// SPDX-License-Identifier: GPL-3.0-or-later
// brillm vocab: build a vocabulary from a corpus, or check one.
#include "args.h"
#include "commands.h"

#include "brillm/error.h"
#include "brillm/text/bpe_tokenizer.h"
#include "brillm/text/bpe_trainer.h"
#include "brillm/text/tokenizer.h"
#include "brillm/text/vocabulary.h"
#include "brillm/text/vocabulary_builder.h"

#include <chrono>
#include <cstdio>
#include <iostream>

namespace brillm::cli {
namespace {

std::vector<std::filesystem::path> paths(const std::vector<std::string>& v) {
    return {v.begin(), v.end()};
}

int runVocabBuild(const Args& args) {
    std::vector<std::string> corpus;
    std::string kind, out, onInvalid = "stop", nodeOut, unk;
    int64_t size = 0;
    uint64_t minFrequency = 2;
    bool nfkc = false, seenBytesOnly = false, noNfkc = false;
    ArgParser p(
        "brillm vocab build",
        "Builds a vocabulary from a corpus (UTF-8 text, one sentence or paragraph per line).\n"
        "  char: the unknown token (id 0) and the SIZE-1 most frequent characters, written as {token: id}\n"
        "  bpe:  a byte-level BPE of SIZE tokens ([PAD] [UNK] [CLS] [SEP] [MASK], the 256 byte symbols, merges),\n"
        "        written as a HuggingFace tokenizer.json");
    p.list("corpus", &corpus, "FILE", "corpus file (repeat for several)");
    p.option("kind", &kind, "char|bpe", "vocabulary kind");
    p.option("size", &size, "V", "number of tokens (nodes)");
    p.option("out", &out, "FILE", "output file");
    p.option("min-frequency", &minFrequency, "N", "bpe: merge only pairs seen at least N times (default {default})");
    p.flag("seen-bytes-only", &seenBytesOnly,
           "bpe: only the bytes seen in the corpus (as the released file), not all 256");
    p.flag("no-nfkc", &noNfkc, "bpe: no NFKC normaliser");
    p.flag("nfkc", &nfkc, "char: count NFKC-normalised characters");
    p.option("unk", &unk, "TOKEN", "char: the unknown token (default <unk>)");
    p.option("node-vocab-out", &nodeOut, "FILE", "bpe: also write the node dictionary {token: id}");
    p.option("on-invalid-utf8", &onInvalid, "stop|skip",
             "a corpus line that is not UTF-8 stops the build or is skipped");
    p.required("corpus");
    p.required("kind");
    p.required("size");
    p.required("out");
    if (!p.parse(args)) return 0;
    if (kind != "char" && kind != "bpe") throw UsageError("--kind must be char or bpe");
    if (size < 2 || size > 1'000'000) throw UsageError("--size must be in [2, 1000000]; got " + std::to_string(size));
    if (minFrequency < 1) throw UsageError("--min-frequency must be at least 1; got " + std::to_string(minFrequency));
    const auto policy = invalidUtf8PolicyFromName(onInvalid);
    const auto started = std::chrono::steady_clock::now();
    const auto seconds = [&] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    };
    const auto reportSkipped = [](const CorpusStats& s) {
        if (s.skippedLines)
            std::cerr << "brillm vocab build: skipped " << s.skippedLines
                      << " lines with invalid UTF-8 (first: " << s.firstSkipped << ")\n";
    };

    if (kind == "char") {
        CharVocabularyOptions o;
        o.size = size;
        o.nfkc = nfkc;
        o.onInvalidUtf8 = policy;
        if (!unk.empty()) o.unknownToken = unk;
        const auto r = buildCharVocabulary(paths(corpus), o);
        r.vocabulary.save(out);
        reportSkipped(r.corpus);
        std::printf(
            "wrote %s: %lld tokens (%lld distinct characters in %llu lines, %.2f%% of them covered) in %.1f s\n",
            out.c_str(), static_cast<long long>(r.vocabulary.size()), static_cast<long long>(r.distinctCharacters),
            static_cast<unsigned long long>(r.corpus.lines), 100.0 * r.coverage, seconds());
        if (r.vocabulary.size() < size)
            std::printf("note: the corpus has only %lld distinct characters, so the vocabulary is smaller than %lld\n",
                        static_cast<long long>(r.distinctCharacters), static_cast<long long>(size));
        return 0;
    }
    if (kind == "bpe") {
        BpeTrainerOptions o;
        o.vocabSize = size;
        o.minFrequency = minFrequency;
        o.fullByteAlphabet = !seenBytesOnly;
        o.nfkc = !noNfkc;
        o.onInvalidUtf8 = policy;
        BpeTrainer trainer(o);
        trainer.addCorpus(paths(corpus));
        const auto r = trainer.trainToFile(out);
        reportSkipped(r.corpus);
        std::printf("wrote %s: %lld tokens, %lld merges, from %llu distinct words in %llu lines, in %.1f s\n",
                    out.c_str(), static_cast<long long>(r.vocabSize), static_cast<long long>(r.merges),
                    static_cast<unsigned long long>(r.distinctWords), static_cast<unsigned long long>(r.corpus.lines),
                    seconds());
        if (r.vocabSize < size)
            std::printf("note: no pair is seen %llu times any more; the vocabulary stops at %lld tokens\n",
                        static_cast<unsigned long long>(minFrequency), static_cast<long long>(r.vocabSize));
        if (!nodeOut.empty()) {
            const auto tok = ByteLevelBpeTokenizer::load(out);
            NodeVocabulary::fromTokenizer(*tok).save(nodeOut);
            std::printf("wrote %s: the node dictionary of %lld tokens\n", nodeOut.c_str(),
                        static_cast<long long>(tok->vocabSize()));
        }
        return 0;
    }
    throw UsageError("--kind must be char or bpe");
}

int runVocabCheck(const Args& args) {
    std::string file;
    ArgParser p(
        "brillm vocab check",
        "Loads a tokenizer.json or a {token: id} node dictionary and reports what it is, or why it is invalid.");
    p.positional("FILE", &file, "the file to check");
    if (!p.parse(args)) return 0;
    const auto tok = loadTokenizer(file);
    // what encoding would refuse later, refused now: a check that passes must mean a usable file
    if (const auto* bpe = dynamic_cast<const ByteLevelBpeTokenizer*>(tok.get())) {
        if (!bpe->unknownToken().empty() && !bpe->unknownId())
            throw InputError(file + ": model.unk_token \"" + bpe->unknownToken() +
                             "\" is not in the vocabulary (model.vocab); add it or set unk_token to null");
        if (bpe->numMerges() == 0)
            throw InputError(file + ": a byte-level BPE without merges (model.merges is empty): every word would be "
                                    "split into single bytes; expected the merges of a trained BPE");
    }
    std::printf("%s: %s, %lld tokens", file.c_str(),
                tok->kind() == TokenizerKind::Char ? "character node dictionary" : "byte-level BPE tokenizer",
                static_cast<long long>(tok->vocabSize()));
    if (const auto* bpe = dynamic_cast<const ByteLevelBpeTokenizer*>(tok.get()))
        std::printf(", %zu merges", bpe->numMerges());
    std::printf("\n");
    if (const auto unk = tok->unknownId())
        std::printf("unknown token: %s (id %d)\n", tok->idToToken(*unk).c_str(), *unk);
    std::string special;
    for (const int32_t id : tok->specialIds())
        special += " " + tok->idToToken(id);
    if (!special.empty()) std::printf("special tokens:%s\n", special.c_str());
    return 0;
}

} // namespace

int runVocab(const Args& args) {
    return dispatchSubcommand(
        "brillm vocab", args,
        {{"build", "build a character vocabulary or train a byte-level BPE from a corpus", runVocabBuild},
         {"check", "validate a tokenizer.json or node dictionary", runVocabCheck}});
}

} // namespace brillm::cli
