// SPDX-License-Identifier: GPL-3.0-or-later
// brillm edges: count bigrams (edge frequencies) in a corpus and size the sparse edge table.
#include "args.h"
#include "commands.h"

#include "brillm/error.h"
#include "brillm/text/bigram_counter.h"
#include "brillm/text/bigram_table.h"
#include "brillm/text/tokenizer.h"
#include "brillm/text/vocabulary.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sys/resource.h>
#include <unistd.h>

namespace brillm::cli {
namespace {

double cpuSeconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

bool isJsonPath(const std::string& path) {
    return path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
}

// Node names for the table: the node dictionary when given, else the tokenizer's tokens.
NodeVocabulary nodeNames(const Tokenizer& tok, const std::string& vocabPath) {
    return vocabPath.empty() ? NodeVocabulary::fromTokenizer(tok) : NodeVocabulary::load(vocabPath);
}

void printReport(const BigramTable& table, uint64_t minCount, int64_t dim) {
    const EdgeTable edges = table.toEdgeTable(minCount);
    std::printf("distinct pairs       %lld (%llu bigrams counted)\n", static_cast<long long>(table.numPairs()),
                static_cast<unsigned long long>(table.totalCount()));
    std::printf("own edges            %lld with count >= %llu\n", static_cast<long long>(edges.numOwn()),
                static_cast<unsigned long long>(minCount));
    std::fputs(formatEdgeParameterReport(edgeParameterReport(edges, dim)).c_str(), stdout);
}

int runEdgesCount(const Args& args) {
    std::vector<std::string> corpus;
    std::string tokenizerPath, vocabPath, out, format, onInvalid = "stop", reportPath;
    uint64_t minCount = 1;
    int64_t threads = 2, dim = 32;
    bool nfkc = false, quiet = false, listZeros = false;
    ArgParser p(
        "brillm edges count",
        "Counts adjacent node pairs (source -> target) within each corpus line in one streaming pass, writes the\n"
        "table, and prints how many edges own a parameter slot and the parameter count against the dense graph.");
    p.list("corpus", &corpus, "FILE", "corpus file (repeat for several)");
    p.option("tokenizer", &tokenizerPath, "FILE", "tokenizer.json or character node dictionary");
    p.option("vocab", &vocabPath, "FILE", "node dictionary {token: id} (default: the tokenizer's own ids)");
    p.option("out", &out, "FILE", "output table");
    p.option("format", &format, "json|binary",
             "word_frequency.json shape or the compact binary form (default: by the .json suffix)");
    p.option("min-count", &minCount, "N", "pairs seen at least N times own an edge slot (default {default})");
    p.option("threads", &threads, "N", "tokenising threads (default {default})");
    p.option("dim", &dim, "D", "hidden size for the parameter count (default {default})");
    p.flag("nfkc", &nfkc, "character tokenizers: NFKC-normalise the text first");
    p.flag("list-zeros", &listZeros,
           "json: also list every unseen pair with count 0 (V*V entries), as the reference's word_frequency.json, "
           "whose loader gives unlisted pairs their own slot");
    p.option("on-invalid-utf8", &onInvalid, "stop|skip",
             "a corpus line that is not UTF-8 stops the pass or is skipped");
    p.option("report", &reportPath, "FILE", "also write the statistics as JSON");
    p.flag("quiet", &quiet, "no progress on standard error");
    p.required("corpus");
    p.required("tokenizer");
    p.required("out");
    if (!p.parse(args)) return 0;
    if (format.empty()) format = isJsonPath(out) ? "json" : "binary";
    if (format != "json" && format != "binary") throw UsageError("--format must be json or binary");
    if (minCount < 1) throw UsageError("--min-count must be at least 1");
    if (threads < 1 || threads > 256) throw UsageError("--threads must be between 1 and 256");
    if (dim < 1 || dim > 65536) throw UsageError("--dim must be in [1, 65536]; got " + std::to_string(dim));

    TokenizerOptions to;
    to.charNfkc = nfkc;
    const auto tok = loadTokenizer(tokenizerPath, to);
    const NodeVocabulary names = nodeNames(*tok, vocabPath);
    std::vector<int32_t> nodeMap;
    if (!vocabPath.empty()) {
        int64_t missing = 0;
        nodeMap = names.mapFrom(*tok, &missing);
        if (missing)
            std::cerr << "brillm edges count: note: " << missing << " tokenizer tokens are not in " << vocabPath
                      << '\n';
    }
    BigramCountOptions o;
    o.threads = static_cast<int>(threads);
    o.onInvalidUtf8 = invalidUtf8PolicyFromName(onInvalid);
    const bool showProgress = !quiet && ::isatty(STDERR_FILENO);
    auto last = std::chrono::steady_clock::now();
    o.progress = [&](uint64_t done, uint64_t total) {
        const auto now = std::chrono::steady_clock::now();
        if (showProgress && (now - last > std::chrono::milliseconds(500) || done >= total)) {
            last = now;
            std::fprintf(stderr, "\rcounting: %.1f / %.1f MB", static_cast<double>(done) / 1e6,
                         static_cast<double>(total) / 1e6);
            if (done >= total) std::fputc('\n', stderr);
        }
        return true;
    };
    const BigramCounter counter(*tok, nodeMap, names.size(), o);
    const double cpuBefore = cpuSeconds();
    const BigramCountResult r = counter.count({corpus.begin(), corpus.end()});
    const double cpu = cpuSeconds() - cpuBefore;
    if (format == "json")
        r.table.saveJson(out, names, listZeros);
    else
        r.table.saveBinary(out);

    const double mb = static_cast<double>(r.corpus.bytes) / 1e6;
    std::printf("corpus               %.2f MB, %llu lines (%llu skipped for invalid UTF-8)\n", mb,
                static_cast<unsigned long long>(r.corpus.lines),
                static_cast<unsigned long long>(r.corpus.skippedLines));
    std::printf("tokens               %llu in %.2f s (%.2f MB/s tokenise + count, %lld threads)\n",
                static_cast<unsigned long long>(r.tokens), r.seconds, mb / r.seconds, static_cast<long long>(threads));
    std::printf("wrote                %s (%s)\n", out.c_str(), format.c_str());
    printReport(r.table, minCount, dim);
    if (!reportPath.empty()) {
        const EdgeTable edges = r.table.toEdgeTable(minCount);
        const auto rep = edgeParameterReport(edges, dim);
        nlohmann::json j{{"corpus_bytes", r.corpus.bytes},
                         {"lines", r.corpus.lines},
                         {"skipped_lines", r.corpus.skippedLines},
                         {"tokens", r.tokens},
                         {"seconds", r.seconds},
                         {"cpu_seconds", cpu},
                         {"mb_per_s", mb / r.seconds},
                         {"threads", threads},
                         {"vocab_size", names.size()},
                         {"distinct_pairs", r.table.numPairs()},
                         {"min_count", minCount},
                         {"own_edges", edges.numOwn()},
                         {"dim", dim},
                         {"dense_parameters", rep.denseParameters},
                         {"sparse_parameters", rep.sparseParameters}};
        std::ofstream(reportPath) << j.dump(2) << '\n';
    }
    return 0;
}

int runEdgesInfo(const Args& args) {
    std::string file, tokenizerPath, vocabPath;
    uint64_t minCount = 1;
    int64_t dim = 32;
    bool reference = false;
    ArgParser p("brillm edges info", "Reads a bigram table (JSON or binary) and prints the edge and parameter counts.");
    p.positional("FILE", &file, "the bigram table");
    p.option("vocab", &vocabPath, "FILE", "node dictionary (JSON tables name tokens)");
    p.option("tokenizer", &tokenizerPath, "FILE", "or the tokenizer whose tokens are the nodes");
    p.option("min-count", &minCount, "N", "pairs seen at least N times own an edge slot (default {default})");
    p.option("dim", &dim, "D", "hidden size for the parameter count (default {default})");
    p.flag("reference", &reference,
           "the reference's rule: pairs listed with count 0 are shared, all others own a slot");
    if (!p.parse(args)) return 0;
    if (minCount < 1) throw UsageError("--min-count must be at least 1");
    if (dim < 1 || dim > 65536) throw UsageError("--dim must be in [1, 65536]; got " + std::to_string(dim));
    std::optional<NodeVocabulary> names;
    if (!vocabPath.empty())
        names = NodeVocabulary::load(vocabPath);
    else if (!tokenizerPath.empty())
        names = NodeVocabulary::fromTokenizer(*loadTokenizer(tokenizerPath));
    const BigramTable table = BigramTable::load(file, names ? &*names : nullptr);
    if (reference) {
        std::fputs(formatEdgeParameterReport(edgeParameterReport(table.toReferenceEdgeTable(), dim)).c_str(), stdout);
        return 0;
    }
    printReport(table, minCount, dim);
    return 0;
}

} // namespace

int runEdges(const Args& args) {
    return dispatchSubcommand(
        "brillm edges", args,
        {{"count", "count bigrams of a corpus, write word_frequency.json or the binary table", runEdgesCount},
         {"info", "print edge and parameter counts of a bigram table", runEdgesInfo}});
}

} // namespace brillm::cli
