// SPDX-License-Identifier: GPL-3.0-or-later
#include "brillm/training/training_data.h"
#include "brillm/util/parallel.h"

#include "brillm/error.h"
#include "brillm/text/bpe_tokenizer.h"
#include "brillm/text/bpe_trainer.h"
#include "brillm/text/corpus_reader.h"
#include "brillm/text/corpus_sequences.h"
#include "brillm/text/tokenizer_char.h"
#include "brillm/text/vocabulary_builder.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <thread>

namespace brillm::training {

namespace {

std::vector<std::filesystem::path> corpusFiles(const TrainConfig& c) {
    if (c.corpus.empty()) throw InputError("no corpus given: name at least one text file");
    std::vector<std::filesystem::path> files;
    for (const auto& f : c.corpus) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(f, ec))
            throw InputError("corpus file '" + f + "' does not exist or is not a file");
        files.emplace_back(f);
    }
    return files;
}

std::shared_ptr<const TextCodec> buildCodec(const TrainConfig& c, const std::vector<std::filesystem::path>& files,
                                            std::string& kind, std::string& tokenizerJson) {
    if (!c.tokenizer.empty()) {
        auto tok = std::shared_ptr<const Tokenizer>(loadTokenizer(c.tokenizer));
        if (tok->kind() == TokenizerKind::ByteLevelBpe) {
            kind = "byte-level-bpe";
            tokenizerJson = readTokenizerFile(c.tokenizer);
            return std::make_shared<TextCodec>(NodeVocabulary::fromTokenizer(*tok), tok);
        }
        kind = "char";
        return std::make_shared<TextCodec>(NodeVocabulary::fromTokenizer(*tok));
    }
    if (c.vocabKind == "bpe") {
        BpeTrainerOptions o;
        o.vocabSize = c.vocabSize;
        BpeTrainer trainer(o);
        trainer.addCorpus(files);
        auto result = trainer.train();
        kind = "byte-level-bpe";
        tokenizerJson = std::move(result.tokenizerJson);
        std::shared_ptr<const Tokenizer> tok = ByteLevelBpeTokenizer::parse(tokenizerJson, "trained BPE tokenizer");
        return std::make_shared<TextCodec>(NodeVocabulary::fromTokenizer(*tok), tok);
    }
    if (c.vocabKind != "char") throw InputError("vocabulary kind must be 'char' or 'bpe', got '" + c.vocabKind + "'");
    CharVocabularyOptions o;
    o.size = std::max<int64_t>(2, c.vocabSize - 1); // one node is kept for the padding
    auto result = buildCharVocabulary(files, o);
    auto tokens = result.vocabulary.tokens();
    tokens.emplace_back("[PAD]");
    kind = "char";
    return std::make_shared<TextCodec>(NodeVocabulary::fromTokens(std::move(tokens), "character vocabulary"));
}

// The windows of maxSeqLength tokens of every paragraph of the files, tokenised on up to 8
// threads, in paragraph order; counts paragraphs and unknown tokens into `data`.
std::vector<Sequence> windowsOf(const std::vector<std::filesystem::path>& files, const TrainConfig& config,
                                TrainingData& data, const std::function<void()>& onTokenising) {
    std::vector<std::string> paragraphs;
    for (const auto& f : files) {
        auto p = readParagraphs(f);
        paragraphs.insert(paragraphs.end(), std::make_move_iterator(p.begin()), std::make_move_iterator(p.end()));
    }
    if (paragraphs.empty())
        throw InputError("the text (" + files.front().string() + (files.size() > 1 ? ", ..." : "") +
                         ") has no paragraph");
    data.paragraphs += paragraphs.size();
    onTokenising();
    const int threads = std::max(
        1,
        std::min<int>(config.threads > 0 ? config.threads : static_cast<int>(std::thread::hardware_concurrency()), 8));
    std::vector<std::vector<Sequence>> parts(static_cast<size_t>(threads));
    std::vector<uint64_t> unknown(static_cast<size_t>(threads), 0);
    const auto L = static_cast<size_t>(config.maxSeqLength);
    runThreads(threads, [&](int t) {
        const size_t b = paragraphs.size() * static_cast<size_t>(t) / static_cast<size_t>(threads);
        const size_t e = paragraphs.size() * static_cast<size_t>(t + 1) / static_cast<size_t>(threads);
        for (size_t p = b; p < e; ++p) {
            const auto enc = data.codec->encode(paragraphs[p]);
            unknown[static_cast<size_t>(t)] += static_cast<uint64_t>(enc.unknown);
            const auto& ids = enc.nodes;
            // windows overlapping by one token: every bigram lands in some window
            for (const auto& [start, n] : overlappingWindows(ids.size(), config.maxSeqLength)) {
                Sequence s;
                s.ids.assign(ids.begin() + static_cast<std::ptrdiff_t>(start),
                             ids.begin() + static_cast<std::ptrdiff_t>(start + n));
                s.length = static_cast<int32_t>(n);
                s.paragraph = static_cast<int64_t>(p);
                if (data.padNode >= 0) s.ids.resize(L, data.padNode);
                parts[static_cast<size_t>(t)].push_back(std::move(s));
            }
        }
    });
    std::vector<Sequence> all;
    for (auto& p : parts)
        all.insert(all.end(), std::make_move_iterator(p.begin()), std::make_move_iterator(p.end()));
    for (uint64_t u : unknown)
        data.unknownTokens += u;
    return all;
}

// Holds a random heldOutFraction of the windows out (at most heldOutMax, at least one when the
// fraction is positive).
void splitHeldOut(std::vector<Sequence>& all, const TrainConfig& config, TrainingData& data) {
    std::vector<size_t> order(all.size());
    for (size_t i = 0; i < order.size(); ++i)
        order[i] = i;
    std::mt19937_64 rng(config.seed ^ 0x5eedda7aULL);
    std::shuffle(order.begin(), order.end(), rng);
    auto held = static_cast<size_t>(static_cast<double>(all.size()) * config.heldOutFraction);
    held = std::min<size_t>(held, static_cast<size_t>(std::max<int64_t>(0, config.heldOutMax)));
    if (config.heldOutFraction > 0 && held == 0) held = 1;
    held = std::min(held, all.size() - 1);
    std::vector<uint8_t> isHeld(all.size(), 0);
    for (size_t k = 0; k < held; ++k)
        isHeld[order[k]] = 1;
    for (size_t i = 0; i < all.size(); ++i) {
        data.tokens += static_cast<uint64_t>(all[i].length);
        (isHeld[i] ? data.heldOut : data.train).push_back(std::move(all[i]));
    }
}

} // namespace

int64_t trainedEdges(const Sequence& s, EdgeSelection selection, int32_t padNode) {
    const auto n = static_cast<int64_t>(s.ids.size());
    if (selection == EdgeSelection::Reference) return std::max<int64_t>(0, n - 2);
    // real sources; the edge into the first padding node teaches where text ends
    const int64_t real = s.length;
    return std::min<int64_t>(padNode >= 0 ? real : real - 1, n - 1);
}

TrainingData prepareTrainingData(const TrainConfig& config, const PrepareProgress& progress,
                                 std::shared_ptr<const TextCodec> codec) {
    if (config.maxSeqLength < 2) throw InputError("max_seq_length must be at least 2");
    const auto report = [&](const std::string& stage, double f) {
        if (progress && !progress(stage, f)) throw CancelledError();
    };
    const auto files = corpusFiles(config);
    TrainingData data;
    report("building the vocabulary", 0.0);
    if (codec) {
        data.codec = std::move(codec);
        data.tokenizerKind = data.codec->tokenizer().kind() == TokenizerKind::ByteLevelBpe ? "byte-level-bpe" : "char";
    } else {
        data.codec = buildCodec(config, files, data.tokenizerKind, data.tokenizerJson);
    }
    const auto& nodes = data.codec->vocabulary();
    if (auto pad = nodes.id("[PAD]")) data.padNode = *pad;

    report("reading the corpus", 0.3);
    auto all = windowsOf(files, config, data, [&] { report("tokenising", 0.4); });
    if (all.size() < 2) throw InputError("the corpus gives fewer than two training sequences; give more text");
    if (!config.heldOutCorpus.empty()) {
        report("reading the held-out text", 0.7);
        std::vector<std::filesystem::path> heldFiles;
        for (const auto& f : config.heldOutCorpus) {
            std::error_code ec;
            if (!std::filesystem::is_regular_file(f, ec))
                throw InputError("held-out file '" + f + "' does not exist or is not a file");
            heldFiles.emplace_back(f);
        }
        TrainingData held;
        held.codec = data.codec;
        held.padNode = data.padNode;
        data.heldOut = windowsOf(heldFiles, config, held, [] {});
        if (data.heldOut.empty())
            throw InputError("the held-out text (" + config.heldOutCorpus.front() +
                             ") has no paragraph of two tokens or more");
        for (auto& s : all)
            data.tokens += static_cast<uint64_t>(s.length);
        data.train = std::move(all);
    } else {
        splitHeldOut(all, config, data);
    }

    if (config.validationWindows > 0 && data.train.size() >= 40) {
        // whole paragraphs (a paragraph's other windows would share its phrases), every stride-th,
        // spread over the text: about validationWindows windows, at most 5%
        const int64_t paragraphs = data.train.back().paragraph + 1;
        const double perParagraph =
            static_cast<double>(data.train.size()) / static_cast<double>(std::max<int64_t>(1, paragraphs));
        const auto stride = std::max<int64_t>(20, static_cast<int64_t>(static_cast<double>(paragraphs) * perParagraph /
                                                                       static_cast<double>(config.validationWindows)));
        std::vector<Sequence> keep;
        keep.reserve(data.train.size());
        for (auto& w : data.train)
            (w.paragraph % stride == stride / 2 && w.length >= 2 ? data.validation : keep).push_back(std::move(w));
        data.train = std::move(keep);
    }

    report("counting bigrams", 0.9);
    std::vector<BigramCount> counts;
    {
        std::unordered_map<uint64_t, uint64_t> map;
        for (const auto& s : data.train)
            for (int32_t i = 0; i + 1 < s.length; ++i)
                ++map[(static_cast<uint64_t>(static_cast<uint32_t>(s.ids[static_cast<size_t>(i)])) << 32) |
                      static_cast<uint32_t>(s.ids[static_cast<size_t>(i) + 1])];
        counts.reserve(map.size());
        for (const auto& [key, c] : map)
            counts.push_back({static_cast<int32_t>(key >> 32), static_cast<int32_t>(key & 0xffffffffu), c});
    }
    data.bigrams = BigramTable::fromCounts(data.vocabSize(), std::move(counts));
    report("ready", 1.0);
    return data;
}

// ---- BatchSource --------------------------------------------------------------------------

BatchSource::BatchSource(const TrainingData& data, const TrainConfig& config, const EdgeTable* edges)
    : m_data(data), m_config(config), m_edges(edges), m_stamp(static_cast<size_t>(data.vocabSize()), 0) {
    if (data.train.empty()) throw InputError("no training sequences");
    if (config.batchSize < 1) throw InputError("batch size must be at least 1");
    if (config.loss == LossKind::Exact || config.loss == LossKind::SampledOwn) {
        if (!edges || edges->vocabSize() != data.vocabSize())
            throw InputError(std::string("the ") + toString(config.loss) +
                             " loss needs the model's edge table for the corpus's " + std::to_string(data.vocabSize()) +
                             " nodes");
        return; // no negatives to prepare
    }
    if (config.negatives < 1) throw InputError("negatives per edge must be at least 1");
    m_k = std::min<int64_t>(config.negatives, data.vocabSize() - 1);
    if (config.negativeMode == NegativeMode::Frequency) {
        m_frequent.resize(static_cast<size_t>(data.vocabSize()));
        for (int32_t s = 0; s < data.vocabSize(); ++s) {
            const auto t = data.bigrams.targets(s);
            const auto c = data.bigrams.counts(s);
            std::vector<size_t> idx(t.size());
            for (size_t i = 0; i < idx.size(); ++i)
                idx[i] = i;
            const size_t keep = std::min(idx.size(), static_cast<size_t>(m_k + 1));
            std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(keep), idx.end(),
                              [&](size_t a, size_t b) { return c[a] > c[b] || (c[a] == c[b] && t[a] < t[b]); });
            auto& out = m_frequent[static_cast<size_t>(s)];
            for (size_t i = 0; i < keep; ++i)
                out.push_back(t[idx[i]]);
        }
    }
}

const std::vector<int64_t>& BatchSource::epochOrder(int64_t epoch) {
    if (epoch != m_epoch) {
        m_order.resize(m_data.train.size());
        for (size_t i = 0; i < m_order.size(); ++i)
            m_order[i] = static_cast<int64_t>(i);
        std::mt19937_64 rng(m_config.seed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(epoch) + 1);
        std::shuffle(m_order.begin(), m_order.end(), rng);
        m_epoch = epoch;
    }
    return m_order;
}

void BatchSource::negativesFor(int32_t source, int32_t target, uint64_t rngSeed, std::vector<int32_t>& out) {
    out.clear();
    if (++m_stampValue == 0) {
        std::fill(m_stamp.begin(), m_stamp.end(), 0);
        m_stampValue = 1;
    }
    m_stamp[static_cast<size_t>(target)] = m_stampValue;
    if (m_config.negativeMode == NegativeMode::Frequency) {
        // the reference: the k+1 most frequent successors minus the target, the first k
        for (int32_t v : m_frequent[static_cast<size_t>(source)]) {
            if (static_cast<int64_t>(out.size()) == m_k) break;
            if (v == target) continue;
            out.push_back(v);
            m_stamp[static_cast<size_t>(v)] = m_stampValue;
        }
    }
    // random distinct targets (all of them in random mode; the top-up of rare sources otherwise)
    std::mt19937_64 rng(rngSeed);
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(m_data.vocabSize()) - 1);
    while (static_cast<int64_t>(out.size()) < m_k) {
        const int32_t v = pick(rng);
        if (m_stamp[static_cast<size_t>(v)] == m_stampValue) continue;
        m_stamp[static_cast<size_t>(v)] = m_stampValue;
        out.push_back(v);
    }
}

// From an exact sample: per edge the target, k of the other own targets (uniform, without
// replacement) weighted (own - 1) / k, and the shared candidate as it was.
LossSample BatchSource::sampleOwn(const LossSample& full, uint64_t rngSeed) const {
    LossSample out;
    out.tokens = full.tokens;
    out.offsets.push_back(0);
    std::vector<int64_t> pool;
    for (int64_t i = 0; i < full.numEdges(); ++i) {
        const int64_t b = full.offsets[static_cast<size_t>(i)], e = full.offsets[static_cast<size_t>(i) + 1];
        const int32_t src = full.tokens[static_cast<size_t>(i)];
        pool.clear();
        int64_t shared = -1;
        for (int64_t c = b + 1; c < e; ++c) {
            if (m_edges->isShared(src, full.candidates[static_cast<size_t>(c)]))
                shared = c;
            else
                pool.push_back(c);
        }
        out.candidates.push_back(full.candidates[static_cast<size_t>(b)]);
        out.weights.push_back(full.weights[static_cast<size_t>(b)]);
        const auto k = static_cast<size_t>(std::min<int64_t>(m_config.negatives, static_cast<int64_t>(pool.size())));
        if (k < pool.size()) { // a partial Fisher-Yates shuffle picks k
            std::mt19937_64 rng(rngSeed * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(i));
            for (size_t j = 0; j < k; ++j)
                std::swap(pool[j], pool[j + std::uniform_int_distribution<size_t>(0, pool.size() - 1 - j)(rng)]);
        }
        const float w = k ? static_cast<float>(static_cast<double>(pool.size()) / static_cast<double>(k)) : 1.0f;
        for (size_t j = 0; j < k; ++j) {
            out.candidates.push_back(full.candidates[static_cast<size_t>(pool[j])]);
            out.weights.push_back(w);
        }
        if (shared >= 0) {
            out.candidates.push_back(full.candidates[static_cast<size_t>(shared)]);
            out.weights.push_back(full.weights[static_cast<size_t>(shared)]);
        }
        out.offsets.push_back(static_cast<int64_t>(out.candidates.size()));
    }
    return out;
}

LossSample BatchSource::sampleOf(const Sequence& s, uint64_t rngSeed) {
    const int64_t n = trainedEdges(s, m_config.edges, m_data.padNode);
    if (m_config.loss == LossKind::Exact)
        return LossSample::exactCandidates(std::vector<int32_t>(s.ids.begin(), s.ids.begin() + n + 1), *m_edges);
    if (m_config.loss == LossKind::SampledOwn) {
        auto full = LossSample::exactCandidates(std::vector<int32_t>(s.ids.begin(), s.ids.begin() + n + 1), *m_edges);
        return sampleOwn(full, rngSeed);
    }
    LossSample out;
    out.tokens.assign(s.ids.begin(), s.ids.begin() + n + 1);
    out.offsets.push_back(0);
    std::vector<int32_t> neg;
    for (int64_t i = 0; i < n; ++i) {
        const int32_t src = out.tokens[static_cast<size_t>(i)], tgt = out.tokens[static_cast<size_t>(i) + 1];
        negativesFor(src, tgt, rngSeed * 1315423911ULL + static_cast<uint64_t>(i), neg);
        out.candidates.push_back(tgt);
        out.candidates.insert(out.candidates.end(), neg.begin(), neg.end());
        out.offsets.push_back(static_cast<int64_t>(out.candidates.size()));
    }
    return out;
}

std::vector<LossSample> BatchSource::batch(int64_t step, int rank, int worldSize) {
    std::vector<LossSample> out;
    const auto n = static_cast<int64_t>(m_data.train.size());
    for (int64_t b = rank; b < m_config.batchSize; b += worldSize) {
        const int64_t global = step * m_config.batchSize + b;
        const auto& order = epochOrder(global / n);
        const Sequence& s = m_data.train[static_cast<size_t>(order[static_cast<size_t>(global % n)])];
        if (trainedEdges(s, m_config.edges, m_data.padNode) < 1) continue;
        out.push_back(sampleOf(s, (m_config.seed + 1) * 0x2545F4914F6CDD1DULL ^ static_cast<uint64_t>(global)));
    }
    return out;
}

std::vector<std::vector<int32_t>> BatchSource::heldOutPaths(int64_t count) const {
    std::vector<std::vector<int32_t>> out;
    for (const auto& s : m_data.heldOut) {
        if (count > 0 && static_cast<int64_t>(out.size()) >= count) break;
        if (s.length < 2) continue;
        out.emplace_back(s.ids.begin(), s.ids.begin() + s.length);
    }
    return out;
}

} // namespace brillm::training
