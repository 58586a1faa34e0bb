// SPDX-License-Identifier: GPL-3.0-or-later
#include "test_models.h"

#include <brillm/io/model_file.h>
#include <brillm/text/tokenizer.h>
#include <brillm/text/vocabulary.h>

#include <fstream>
#include <sstream>

#include <algorithm>
#include <random>
#include <set>
#include <utility>
#include <vector>

namespace brillm::viz::testmodels {

namespace {
// UTF-8 code points of s.
std::vector<std::string> codePoints(const std::string& s) {
    std::vector<std::string> out;
    for (size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        const size_t n = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        out.push_back(s.substr(i, n));
        i += n;
    }
    return out;
}

std::string utf8(char32_t cp) {
    std::string s;
    if (cp < 0x80)
        s += static_cast<char>(cp);
    else if (cp < 0x800)
        s += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
    else
        s += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)),
              static_cast<char>(0x80 | (cp & 0x3F))};
    return s;
}

// A character model of `vocab` (d = 32, P = 512) with own slots for `pairs`, random parameters
// (seeded), saved to path. Returns path.
std::string saveCharModel(const std::string& path, const std::vector<std::string>& vocab,
                          const std::set<std::pair<int32_t, int32_t>>& pairs, unsigned seed, const char* provenance) {
    const std::vector<std::pair<int32_t, int32_t>> pv(pairs.begin(), pairs.end());
    ModelConfig config;
    config.vocabSize = static_cast<int64_t>(vocab.size());
    config.dim = 32;
    config.maxPositions = 512;
    const Model model = Model::randomInit(config, EdgeTable::fromPairs(config.vocabSize, pv), seed);
    ModelMetadata meta;
    meta.vocabulary = vocab;
    meta.tokenizerKind = "char";
    meta.provenanceJson = provenance;
    ModelFile::save(path, model, meta);
    return path;
}
} // namespace

std::string makeCharModel(const std::string& path, const std::string& text, unsigned seed) {
    const auto cps = codePoints(text);
    std::vector<std::string> vocab(cps.begin(), cps.end());
    std::sort(vocab.begin(), vocab.end());
    vocab.erase(std::unique(vocab.begin(), vocab.end()), vocab.end());
    auto id = [&](const std::string& c) {
        return static_cast<int32_t>(std::lower_bound(vocab.begin(), vocab.end(), c) - vocab.begin());
    };
    std::set<std::pair<int32_t, int32_t>> pairs;
    for (size_t i = 0; i + 1 < cps.size(); ++i)
        pairs.insert({id(cps[i]), id(cps[i + 1])});
    return saveCharModel(path, vocab, pairs, seed, R"({"source": "studio test model"})");
}

std::string makeHugeTokenModel(const std::string& path, const std::string& text, size_t tokenBytes, unsigned seed) {
    const auto cps = codePoints(text);
    std::vector<std::string> vocab(cps.begin(), cps.end());
    std::sort(vocab.begin(), vocab.end());
    vocab.erase(std::unique(vocab.begin(), vocab.end()), vocab.end());
    std::string huge;
    huge.reserve(tokenBytes + 16);
    for (size_t i = 0; huge.size() < tokenBytes; ++i)
        huge += (i % 16 == 15) ? "line\n" : "word ";
    huge.resize(tokenBytes);
    vocab.push_back(huge);
    auto id = [&](const std::string& c) {
        return static_cast<int32_t>(std::find(vocab.begin(), vocab.end(), c) - vocab.begin());
    };
    std::set<std::pair<int32_t, int32_t>> pairs;
    for (size_t i = 0; i + 1 < cps.size(); ++i)
        pairs.insert({id(cps[i]), id(cps[i + 1])});
    const auto hugeId = static_cast<int32_t>(vocab.size() - 1);
    pairs.insert({id(cps[0]), hugeId});
    pairs.insert({hugeId, id(cps[0])});
    return saveCharModel(path, vocab, pairs, seed, "{}");
}

std::string makeBpeModel(const std::string& path, const std::string& tokenizerPath, const std::string& text,
                         unsigned seed) {
    const auto tok = loadTokenizer(tokenizerPath);
    const auto vocab = NodeVocabulary::fromTokenizer(*tok);
    const auto ids = tok->encodeIds(text); // tokenizer ids are node ids here: fromTokenizer keeps the order
    std::set<std::pair<int32_t, int32_t>> pairs;
    for (size_t i = 0; i + 1 < ids.size(); ++i)
        pairs.insert({ids[i], ids[i + 1]});
    const std::vector<std::pair<int32_t, int32_t>> pv(pairs.begin(), pairs.end());
    ModelConfig config;
    config.vocabSize = vocab.size();
    config.dim = 32;
    config.maxPositions = 512;
    const Model model = Model::randomInit(config, EdgeTable::fromPairs(config.vocabSize, pv), seed);
    ModelMetadata meta;
    meta.vocabulary = vocab.tokens();
    meta.tokenizerKind = "byte-level-bpe";
    std::ifstream in(tokenizerPath, std::ios::binary);
    std::ostringstream json;
    json << in.rdbuf();
    meta.tokenizerJson = json.str();
    meta.provenanceJson = R"json({"source": "studio test model, BPE"})json";
    ModelFile::save(path, model, meta);
    return path;
}

std::string makeLargeModel(const std::string& path, int vocabSize, int ownPerNode, unsigned seed) {
    std::vector<std::string> vocab;
    for (char32_t c = 0x20; c < 0x7F && static_cast<int>(vocab.size()) < vocabSize; ++c)
        vocab.push_back(utf8(c));
    for (char32_t c = 0x4E00; static_cast<int>(vocab.size()) < vocabSize; ++c)
        vocab.push_back(utf8(c));
    std::mt19937 rng(seed);
    std::vector<std::pair<int32_t, int32_t>> pairs;
    std::uniform_int_distribution<int32_t> pick(0, vocabSize - 1);
    for (int32_t s = 0; s < vocabSize; ++s) {
        std::set<int32_t> targets;
        while (static_cast<int>(targets.size()) < std::min(ownPerNode, vocabSize))
            targets.insert(pick(rng));
        for (int32_t t : targets)
            pairs.push_back({s, t});
    }
    ModelConfig config;
    config.vocabSize = vocabSize;
    const Model model = Model::randomInit(config, EdgeTable::fromPairs(vocabSize, pairs), seed);
    ModelMetadata meta;
    meta.vocabulary = vocab;
    meta.tokenizerKind = "char";
    ModelFile::save(path, model, meta);
    return path;
}

} // namespace brillm::viz::testmodels
