// SPDX-License-Identifier: GPL-3.0-or-later
// brillm tokenize: lines from standard input to token ids (and node ids).
#include "args.h"
#include "commands.h"

#include "brillm/error.h"
#include "brillm/text/tokenizer.h"
#include "brillm/text/unicode.h"
#include "brillm/text/vocabulary.h"

#include <nlohmann/json.hpp>

#include <iostream>
#include <string>
#include <unistd.h>

namespace brillm::cli {

int runTokenize(const Args& args) {
    std::string tokenizerPath, vocabPath, onInvalid = "stop", unk;
    bool json = false, nfkc = false, decode = false;
    ArgParser p(
        "brillm tokenize",
        "Reads lines from standard input and writes their tokens, one line of output per line of input.\n"
        "A trailing '\\r' (CRLF input) is dropped. The tokenizer is a HuggingFace tokenizer.json (byte-level BPE)\n"
        "or a {token: id} node dictionary (one node per character).");
    p.option("tokenizer", &tokenizerPath, "FILE", "tokenizer.json or character node dictionary");
    p.option("vocab", &vocabPath, "FILE", "node dictionary {token: id}: also print node ids (\"nodes\")");
    p.flag("json", &json, "one JSON object per line: ids, tokens, offsets (byte ranges), nodes");
    p.flag("nfkc", &nfkc, "character tokenizers: NFKC-normalise the text first");
    p.option("unk", &unk, "TOKEN", "character tokenizers: the unknown token (default <unk>/[UNK])");
    p.flag("decode", &decode, "also print the decoded text (\"decoded\")");
    p.option("on-invalid-utf8", &onInvalid, "stop|skip",
             "a line that is not UTF-8 stops (exit 1) or is reported and skipped");
    p.required("tokenizer");
    if (!p.parse(args)) return 0;
    if (onInvalid != "stop" && onInvalid != "skip") throw UsageError("--on-invalid-utf8 must be stop or skip");

    TokenizerOptions options;
    options.charNfkc = nfkc;
    options.charUnknownToken = unk;
    const auto tok = loadTokenizer(tokenizerPath, options);
    std::vector<int32_t> nodeMap;
    std::optional<NodeVocabulary> vocab;
    if (!vocabPath.empty()) {
        vocab = NodeVocabulary::load(vocabPath);
        int64_t missing = 0;
        nodeMap = vocab->mapFrom(*tok, &missing);
        if (missing > 0)
            std::cerr << "brillm tokenize: note: " << missing << " tokenizer tokens are not in " << vocabPath
                      << " (mapped to " << (vocab->unknownId() ? "its unknown token" : "-1") << ")\n";
    }
    const bool interactive = ::isatty(STDIN_FILENO) != 0;
    std::string line;
    uint64_t lineNumber = 0;
    const int status = 0;
    while (std::getline(std::cin, line)) {
        ++lineNumber;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (const size_t bad = unicode::findInvalidUtf8(line); bad != unicode::kValid) {
            const std::string msg =
                "line " + std::to_string(lineNumber) + ": invalid UTF-8 at byte " + std::to_string(bad);
            if (onInvalid == "stop") throw InputError("standard input " + msg);
            std::cerr << "brillm tokenize: skipped " << msg << '\n';
            if (json)
                std::cout << nlohmann::json{{"line", lineNumber},
                                            {"error", "invalid UTF-8 at byte " + std::to_string(bad)}}
                                 .dump()
                          << '\n';
            else
                std::cout << '\n';

            continue;
        }
        const Encoding e = tok->encode(line);
        std::vector<int32_t> nodes;
        if (vocab)
            for (const int32_t id : e.ids)
                nodes.push_back(nodeMap[static_cast<size_t>(id)]);
        if (json) {
            nlohmann::json out;
            out["ids"] = e.ids;
            out["tokens"] = e.tokens;
            out["offsets"] = e.offsets;
            if (vocab) out["nodes"] = nodes;
            if (decode) out["decoded"] = tok->decode(e.ids);
            std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
        } else {
            for (size_t i = 0; i < e.size(); ++i) {
                if (i) std::cout << ' ';
                std::cout << e.tokens[i] << '/' << e.ids[i];
                if (vocab) std::cout << "->" << nodes[i];
            }
            if (decode) std::cout << "\t| " << tok->decode(e.ids);
            std::cout << '\n';
        }
        if (interactive) std::cout.flush();
    }
    return status;
}

} // namespace brillm::cli
