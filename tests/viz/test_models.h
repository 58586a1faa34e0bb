// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Small model files for the studio's tests, made on the spot (no shared data, no demo model).

#include <string>

namespace brillm::viz::testmodels {

// A character model over the distinct characters of text: own edges for the bigrams of text,
// the rest shared; random parameters (seeded). Returns path.
std::string makeCharModel(const std::string& path, const std::string& text, unsigned seed = 1);
// A model of V nodes (ASCII printable characters first, then CJK characters), each source with
// ownPerNode own targets; the shape of the demo model for timing runs.
// A byte-level BPE model: the nodes are the tokens of the tokenizer.json at tokenizerPath (which
// the file embeds), own edges for the bigrams of text as that tokenizer cuts it, the rest shared;
// random parameters (seeded). Returns path.
std::string makeBpeModel(const std::string& path, const std::string& tokenizerPath, const std::string& text,
                         unsigned seed = 1);
// makeCharModel over text plus one more node whose vocabulary string is tokenBytes long (words,
// spaces and newlines): the shape of a model with a multi-megabyte token.
std::string makeHugeTokenModel(const std::string& path, const std::string& text, size_t tokenBytes, unsigned seed = 1);
std::string makeLargeModel(const std::string& path, int vocabSize, int ownPerNode = 24, unsigned seed = 2);

} // namespace brillm::viz::testmodels
