// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the JSON a model file's metadata carries and the files beside it - the
// provenance (parsed and dumped whole by `brillm info`), the vocabulary (a JSON array in the
// model file, a {token: id} node dictionary beside it) and the embedded tokenizer.json. The
// input is one JSON text, tried in each role. Any outcome but a value or one of the project's
// errors (a message naming the source) is a bug: a stack overflow on deep nesting (issue 18),
// an uncaught nlohmann exception, a sanitizer report.
#include "brillm/error.h"
#include "brillm/io/input_limits.h"
#include "brillm/io/model_file_header.h"
#include "brillm/text/bpe_tokenizer.h"
#include "brillm/text/vocabulary.h"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

// A valid model file (V = 2, d = 2, P = 1, only the shared slot) whose metadata entry `key` is `text`:
// what ModelFileHeader::parse meets in a hostile file.
std::vector<std::byte> modelFileWith(const std::string& key, const std::string& text) {
    using nlohmann::json;
    json meta = {{"format", "brillm-model"},
                 {"format_version", "1"},
                 {"config", R"({"vocab_size":2,"dim":2,"max_positions":1})"},
                 {"dtype", "F32"},
                 {"vocabulary", R"(["a","b"])"},
                 {"provenance", "{}"}};
    meta[key] = text;
    // laid out back to back: weights [1,2,2], biases [1,1,2], node_bias [2,1,2] (F32),
    // edges.row_ptr [3] (I64, all 0: no own edge), positions [1,1,1] (F32), edges.targets [0] (I32)
    json h = {{"__metadata__", meta},
              {"weights", {{"dtype", "F32"}, {"shape", {1, 2, 2}}, {"data_offsets", {0, 16}}}},
              {"biases", {{"dtype", "F32"}, {"shape", {1, 1, 2}}, {"data_offsets", {16, 24}}}},
              {"node_bias", {{"dtype", "F32"}, {"shape", {2, 1, 2}}, {"data_offsets", {24, 40}}}},
              {"edges.row_ptr", {{"dtype", "I64"}, {"shape", {3}}, {"data_offsets", {40, 64}}}},
              {"positions", {{"dtype", "F32"}, {"shape", {1, 1, 1}}, {"data_offsets", {64, 68}}}},
              {"edges.targets", {{"dtype", "I32"}, {"shape", {0}}, {"data_offsets", {68, 68}}}}};
    std::string header = h.dump(-1, ' ', false, json::error_handler_t::replace);
    while (header.size() % 8)
        header += ' ';
    std::vector<std::byte> out(8 + header.size() + 68, std::byte{0});
    const uint64_t n = header.size();
    for (int i = 0; i < 8; ++i)
        out[static_cast<size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xFF);
    std::memcpy(out.data() + 8, header.data(), header.size());
    return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size > (1u << 20)) return 0;
    const std::string text(reinterpret_cast<const char*>(data), size);

    // provenance as `brillm info --json` handles it: bounded, parsed, dumped
    if (brillm::jsonDepthProblem(text).empty()) {
        const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
        if (!j.is_discarded()) (void)j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    // the same text inside a model file, as provenance and as the vocabulary
    for (const char* key : {"provenance", "vocabulary"}) {
        try {
            const auto bytes = modelFileWith(key, text);
            const auto h = brillm::ModelFileHeader::parse(bytes, "fuzz.brillm");
            (void)h.metadata();
        } catch (const brillm::CheckpointError&) {
        }
    }
    // a {token: id} node dictionary and an embedded tokenizer.json
    try {
        (void)brillm::NodeVocabulary::parse(text, "fuzz-vocab.json");
    } catch (const brillm::Error&) {
    }
    try {
        const auto tok = brillm::ByteLevelBpeTokenizer::parse(text, "fuzz-tokenizer.json");
        (void)tok->encodeIds("Hello, world! 123");
    } catch (const brillm::Error&) {
    }
    return 0;
}
