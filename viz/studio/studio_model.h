// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// StudioModel: a loaded model as the studio sees it - parameters, text codec and display
// labels of every node. Built once in the loading worker, then immutable and shared between
// the UI thread and the workers through StudioModelPtr (read-only from any thread).

#include <brillm/io/model_file.h>
#include <brillm/model/continuation.h>
#include <brillm/model/decode.h>
#include <brillm/text/text_codec.h>

#include <QMetaType>
#include <QString>
#include <QStringList>

#include <memory>
#include <optional>
#include <vector>

namespace brillm::viz {

struct StudioModel {
    LoadedModel loaded;
    std::shared_ptr<const TextCodec> codec; // null when the file has no vocabulary: node ids are typed as #id
    QStringList labels;                     // [V] how a node reads, whitespace made visible ("␣the")
    QStringList texts;                      // [V] the node's decoded text, as it reads inside running text
    QString path;
    QString cacheKey;  // file path + size + mtime, hashed: keys on-disk caches
    QString codecNote; // why there is no codec, if there is none
    double loadSeconds = 0;

    const Model& model() const { return loaded.model; }
    int64_t vocabSize() const { return loaded.model.vocabSize(); }
    QString label(int32_t node) const;
    QString text(int32_t node) const;
    // Prompt text to node ids. Without a codec, "#12 #7 3" style ids. Throws InputError.
    std::vector<int32_t> encode(const QString& text) const;
    // A prompt and the continuation expected after it, tokenised together as `brillm blame` does
    // (brillm::encodeContinuation); without a codec, both as node ids. Throws InputError.
    ContinuationTokens encodeContinuation(const QString& prompt, const QString& expected) const;
    // The node whose label or text equals s exactly (visible-whitespace form accepted), if any.
    std::optional<int32_t> findNode(const QString& s) const;
    // One line: "V = 4000 · 96 512 own edges · d = 32 · f32".
    QString summary() const;
    // For a sharded model: how it was opened (mapped, or merged in memory and why); empty otherwise.
    QString shardNote() const;
    // For a sharded model: where a source's own edges live, "shard 2 of 4 (shard-00002-of-00004.brillm)";
    // empty otherwise.
    QString shardOfSource(int32_t source) const;

    // Loads and prepares a model file (call from a worker). Throws brillm::Error.
    static std::shared_ptr<const StudioModel> load(const QString& path);
    // The same over a model already in memory (tests).
    static std::shared_ptr<const StudioModel> fromLoaded(LoadedModel loaded, const QString& path);
};

using StudioModelPtr = std::shared_ptr<const StudioModel>;

// The decoding settings in words, for every place that shows or exports a result: "greedy",
// or "sampling: T 0.8 · top-k 40 · top-p 0.9 · seed 7", then "· self-loops allowed",
// "· reference positions", "· N special tokens banned" where they apply.
QString decodingSummary(const DecodeOptions& options);

// Visible form of a token: spaces as ␣, newlines as ↵, tabs as ⇥, empty as ∅.
QString visibleToken(const QString& text);

} // namespace brillm::viz

Q_DECLARE_METATYPE(brillm::viz::StudioModelPtr)
