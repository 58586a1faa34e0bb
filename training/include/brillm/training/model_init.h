// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Initial parameters for training that already predict: a model whose energies at step 0 give the
// interpolated Kneser-Ney bigram distribution of the training text (as far as the edge table can
// represent it: every target on the shared slot of a source gets an equal share of what the own
// targets leave).
//
// How: every edge's bias points along one direction u (all coordinates equal and positive), with
// a length chosen so that the edge's energy ||GELU(b + PE[p])||, averaged over the training
// positions p, is E_shared + log(p(v|s) / share(s)); the shared slot's energy is E_shared. The
// matrices W and the node biases are small uniform noise, so the input signal hardly changes the
// energies at first and every coordinate still has a gradient. Because every candidate of a step
// sees the same PE row, and the biases are parallel, the softmax over a step's candidates is
// close to the bigram distribution at every position.

#include "brillm/io/sharded_model.h"
#include "brillm/model/model.h"
#include "brillm/text/bigram_table.h"

#include <cstdint>
#include <vector>

namespace brillm::training {

class Communicator;

struct BigramInitOptions {
    double noise = 0.02;        // half-width of the uniform noise on weights and node biases
    double positionSlope = 0.0; // positions[j] = 1 + slope * j (softmax mixing favours recent edges for slope > 0)
    int64_t positionsUsed = 32; // the PE rows the energies are calibrated over: 1 .. positionsUsed - 1
    uint64_t seed = 0;
    // Context (trigram) init, when > 0: every edge's bias also carries a code of its source node (a
    // random direction orthogonal to u, of this length), so that the next edge's input says which
    // node came before; and each own edge's matrix reads that code to add the Kneser-Ney trigram's
    // correction to the bigram energy (a ridge regression per source over its predecessors; see
    // contextInit). 0: the bigram init alone.
    double contextCode = 0.0;
    double ridge = 0.3; // the regression's ridge, relative to the mean squared input norm (bench/results/quality.md)
    double contextScale = 1.0; // the trigram correction is multiplied by this (validatedInit chooses it)
};

// Trigram statistics of the training windows (trigrams inside one window: the model's context
// does not cross a window's start), for the context init.
struct TrigramCounts {
    std::vector<uint64_t> keys;         // (a * V + s) * V + v, ascending
    std::vector<uint32_t> counts;       // parallel to keys
    std::vector<uint64_t> windowStarts; // [V] windows whose first token is the node
};
TrigramCounts countTrigrams(const std::vector<std::vector<int32_t>>& windows, int64_t vocabSize);

// The smoothed bigram probabilities p(target | source) of the own pairs of `edges` (CSR order, one
// per own slot) and, per source, the probability left to its shared targets. Interpolated
// Kneser-Ney with one discount D = n1 / (n1 + 2 n2), backing off to the continuation unigram
// (add-one smoothed); a source never seen predicts the continuation unigram.
struct BigramDistribution {
    std::vector<double> ownProbability; // [numOwn]
    std::vector<double> sharedMass;     // [V]
};
BigramDistribution smoothedBigrams(const BigramTable& counts, const EdgeTable& edges);

// Throws InputError when the table's vocabulary differs from the edge table's.
// trigrams: required when options.contextCode > 0.
Model bigramInitModel(const BigramTable& counts, EdgeTable edges, const ModelConfig& config,
                      const BigramInitOptions& options, const TrigramCounts* trigrams = nullptr);

// The sharded initialisation (--shard-edges): the rows of sources [begin, end) of the model that
// Model::randomInit(config, global, seed) / bigramInitModel(counts, global, config, options,
// trigrams) would build, bit for bit, as a shard (shard.h: row 0 the shared slot, then the own
// slots of the range), without allocating the other rows. The random draws of the whole table are
// made (in chunks of 4 MB) and those of other rows dropped: time O(whole table), memory O(shard).
// What the bigram init needs of the whole table is small: the smoothed probabilities and a bias
// length per slot (24 bytes a slot with the log-ratios, against 4 (d*d + d) for a row), V source
// codes.
Model randomInitShard(const ModelConfig& config, const EdgeTable& global, uint64_t seed, int64_t begin, int64_t end);
Model bigramInitShard(const BigramTable& counts, const EdgeTable& global, const ModelConfig& config,
                      const BigramInitOptions& options, const TrigramCounts* trigrams, int64_t begin, int64_t end);

// The bigram init with the context correction's scale chosen on validation windows (held back from
// the counts): the bigram init alone (scale 0, no source codes) and the context init with its
// correction at 1/4, 1/2, 3/4 and 1 are scored by their exact loss on the validation windows, and
// the best is kept. On a corpus where the trigram correction does not generalise it is switched
// off rather than trusted. Without validation windows the scale is 1.
// threads: for the validation losses.
struct ValidatedInit {
    Model model;
    double contextScale = 0;
    std::vector<std::pair<double, double>> validationLoss; // (scale, exact loss per token)
};
ValidatedInit validatedInit(const BigramTable& counts, const std::vector<std::vector<int32_t>>& trainWindows,
                            const std::vector<std::vector<int32_t>>& validationWindows, const EdgeTable& edges,
                            const ModelConfig& config, BigramInitOptions options, int threads);

// validatedInit for one shard of `plan` (--shard-edges): the candidates are built as shards
// (bigramInitShard) and scored by the sharded exact loss on the validation windows, every rank of
// the shard group (`shardGroup`, null for a single shard) taking part; every shard keeps the same
// scale. The result is validatedInit's rows bit for bit when the two losses pick the same scale
// (they agree within float rounding: the choice differs only for scales within ~1e-9 of a tie).
// Collective over `shardGroup`.
ValidatedInit validatedInitShard(const BigramTable& counts, const std::vector<std::vector<int32_t>>& trainWindows,
                                 const std::vector<std::vector<int32_t>>& validationWindows, const EdgeTable& global,
                                 const ModelConfig& config, BigramInitOptions options, int threads,
                                 const ShardPlan& plan, int shard, Communicator* shardGroup);

// Exact loss per predicted token over the windows (every token after each window's first), on
// `threads` threads; summed in window order.
double windowsLoss(const Model& model, const std::vector<std::vector<int32_t>>& windows, int threads);

} // namespace brillm::training
