// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TrainingData: a corpus turned into fixed-length node sequences, split into training and
// held-out parts, with the bigram counts the edge table and the frequency negatives come from.
// BatchSource: the batch of any step, a pure function of (data, config, step), so a resumed
// run sees exactly the batches an uninterrupted one would.

#include "brillm/model/loss.h"
#include "brillm/text/bigram_table.h"
#include "brillm/text/text_codec.h"
#include "brillm/training/train_config.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace brillm::training {

struct Sequence {
    std::vector<int32_t> ids; // [maxSeqLength], padded with the pad node when there is one
    int32_t length = 0;       // real tokens before the padding
    int64_t paragraph = 0;    // index of the paragraph it was cut from (in corpus order)
};

struct TrainingData {
    std::shared_ptr<const TextCodec> codec;
    std::string tokenizerKind; // "char" or "byte-level-bpe"
    std::string tokenizerJson; // to embed in model files (BPE); empty for character models
    int32_t padNode = -1;      // -1: no padding node
    std::vector<Sequence> train, heldOut;
    // Windows held back from the training text (TrainConfig::validationWindows): neither counted nor
    // trained on; the bigram init chooses its trigram correction's scale on them and the trainer
    // keeps the parameters that predict them best.
    std::vector<Sequence> validation;
    BigramTable bigrams; // real-token pairs of the training sequences
    uint64_t tokens = 0; // real tokens in all sequences
    uint64_t unknownTokens = 0;
    uint64_t paragraphs = 0;
    int64_t vocabSize() const { return codec->vocabSize(); }
};

// Progress: a message and a fraction in [0, 1]; return false to cancel (CancelledError).
using PrepareProgress = std::function<bool(const std::string& stage, double fraction)>;

// Reads the corpus (paragraphs: consecutive non-empty lines are joined with a space in files
// that separate paragraphs by blank lines; each line is a paragraph otherwise), builds or
// loads the vocabulary, tokenises with the codec, and cuts windows of maxSeqLength tokens
// that overlap by one token, so that every bigram of a paragraph is trained. Throws
// InputError for a missing or empty corpus, and TokenizerError for a bad tokenizer.
TrainingData prepareTrainingData(const TrainConfig& config, const PrepareProgress& progress = {},
                                 std::shared_ptr<const TextCodec> codec = nullptr);

// The edges a sequence trains (their count): see EdgeSelection.
int64_t trainedEdges(const Sequence& s, EdgeSelection selection, int32_t padNode);

class BatchSource {
public:
    // edges: the model's edge table, needed by the exact loss (the candidates of an edge are its
    // source's own targets); not owned, must outlive the source.
    BatchSource(const TrainingData& data, const TrainConfig& config, const EdgeTable* edges = nullptr);
    // Deterministic for a given step. Not thread-safe (keeps the current epoch's order).
    std::vector<LossSample> batch(int64_t step) { return batch(step, 0, 1); }
    // Rank `rank`'s share of step's global batch for `worldSize` ranks: the samples at positions
    // rank, rank + worldSize, ... of the global batch, so any rank count trains the same global batch.
    std::vector<LossSample> batch(int64_t step, int rank, int worldSize);
    // The held-out sequences' real-token paths, at most `count` (0: all), for exact-loss evaluation.
    std::vector<std::vector<int32_t>> heldOutPaths(int64_t count) const;
    // Negatives for an edge s -> t (exposed for tests).
    void negativesFor(int32_t source, int32_t target, uint64_t rngSeed, std::vector<int32_t>& out);

private:
    const std::vector<int64_t>& epochOrder(int64_t epoch);
    LossSample sampleOf(const Sequence& s, uint64_t rngSeed);
    LossSample sampleOwn(const LossSample& full, uint64_t rngSeed) const;

    const TrainingData& m_data;
    TrainConfig m_config;
    const EdgeTable* m_edges = nullptr;
    int64_t m_k = 0;
    std::vector<std::vector<int32_t>> m_frequent; // per source: targets by count (desc), then id
    int64_t m_epoch = -1;
    std::vector<int64_t> m_order;
    std::vector<uint32_t> m_stamp; // for distinct random negatives
    uint32_t m_stampValue = 0;
};

} // namespace brillm::training
