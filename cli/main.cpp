// SPDX-License-Identifier: GPL-3.0-or-later
// brillm: the command-line front end of the BriLLM core.
#include "args.h"
#include "commands.h"

#include "brillm/error.h"
#include "brillm/version.h"

#include <iostream>
#include <vector>

namespace {

using brillm::cli::Command;

const std::vector<Command> kCommands = {
#ifdef BRILLM_WITH_TRAINING
    {"demo", "complete a prompt with a demo model (trained on first use from the bundled corpora)",
     brillm::cli::runDemo},
#endif
    {"generate", "complete a prompt (greedy or sampled), streaming the tokens", brillm::cli::runGenerate},
    {"trace", "the full trace of a completion as JSON: every candidate's energy at every step", brillm::cli::runTrace},
    {"score", "exact and sampled-negative loss and perplexity of a text", brillm::cli::runScore},
    {"eval", "exact held-out perplexity of a model over a corpus; Kneser-Ney n-gram baselines", brillm::cli::runEval},
    {"blame", "error tracing: force an expected continuation, explain a step by its edges", brillm::cli::runBlame},
    {"patch", "model edits (knock out, scale, swap with the shared matrix) as patch files", brillm::cli::runPatch},
#ifdef BRILLM_WITH_TRAINING
    {"train", "train a model from a corpus, or resume a run", brillm::cli::runTrain},
    {"merge-shards", "merge the shards of a --shard-edges model into one model file", brillm::cli::runMergeShards},
#endif
    {"bench", "benchmarks: decoding and training speed", brillm::cli::runBench},
    {"tokenize", "tokenise lines of standard input (ids, tokens, node ids)", brillm::cli::runTokenize},
    {"vocab", "build a vocabulary or BPE tokenizer from a corpus; check one", brillm::cli::runVocab},
    {"edges", "count bigrams of a corpus; edge and parameter counts", brillm::cli::runEdges},
    {"split", "split a corpus into training and held-out paragraphs (every K-th held out)", brillm::cli::runSplit},
    {"import", "convert a reference torch.save checkpoint into a model file", brillm::cli::runImport},
    {"export", "write a model file as a torch.save state dict (or another dtype)", brillm::cli::runExport},
    {"info", "what a model file holds: config, edges, parameters, tokenizer, provenance", brillm::cli::runInfo},
    {"verify", "check a model file: shapes, checksum, NaN/Inf", brillm::cli::runVerify},
};

void printUsage(std::ostream& os) {
    os << "usage: brillm COMMAND [options]   (brillm COMMAND --help for details)\n\ncommands:\n";
    for (const auto& c : kCommands) {
        std::string name = c.name;
        os << "  " << name << std::string(name.size() < 12 ? 12 - name.size() : 1, ' ') << c.summary << '\n';
    }
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        printUsage(std::cerr);
        return 2;
    }
    const std::string name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
        printUsage(std::cout);
        return 0;
    }
    if (name == "--version") {
        std::cout << "brillm " << brillm::versionString() << '\n';
        return 0;
    }
    for (const auto& c : kCommands) {
        if (name != c.name) continue;
        try {
            return c.run(brillm::cli::Args(argv + 2, argv + argc));
        } catch (const brillm::cli::UsageError& e) {
            std::cerr << "brillm " << name << ": " << e.what() << '\n';
            return 2;
        } catch (const std::exception& e) {
            std::cerr << "brillm " << name << ": error: " << e.what() << '\n';
            return 1;
        }
    }
    std::cerr << "brillm: unknown command '" << name << "'\n";
    printUsage(std::cerr);
    return 2;
}
