// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Edits of a model's edges and nodes, for "what if" experiments: knock out an edge or a node,
// scale an edge, swap an edge with the shared matrix. A list of edits is a patch; it applies to
// a model to give a new model (the original is not changed), and saves to / loads from a JSON
// patch file (docs/model-edits.md).
//
// Meanings (y = GELU(x W + b + PE) is the signal an edge carries):
//   KnockoutEdge  the edge carries no signal: W = 0 and b = -1e4, so y = 0 exactly (energy 0,
//                 nothing passed on to later mixtures).
//   KnockoutNode  every edge into and out of the node is knocked out: as a candidate it gets
//                 energy 0, and a path through it carries nothing further.
//   ScaleEdge     W and b multiplied by a factor.
//   SwapShared    the edge uses the shared matrix (the edge's own parameters are replaced by the
//                 shared slot's values).
//   ZeroEdge      W = 0 and b = 0 (y = GELU(PE)).
// An edit of a pair that lives on the shared slot materialises the pair: it gets its own slot,
// initialised from the shared slot, so that the edit affects that pair only. Edits apply in
// order; a later edit of the same pair acts on the result of the earlier ones.

#include "brillm/model/model.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace brillm {

enum class EditKind { KnockoutEdge, KnockoutNode, ScaleEdge, SwapShared, ZeroEdge };

std::string toString(EditKind kind);
// Throws InputError naming the accepted values.
EditKind editKindFromString(const std::string& text);

struct ModelEdit {
    EditKind kind = EditKind::KnockoutEdge;
    int32_t source = -1; // the edge's source, or the node of KnockoutNode
    int32_t target = -1; // the edge's target (-1 for KnockoutNode)
    double factor = 1.0; // ScaleEdge only

    // "knock out 12 -> 40", "scale 12 -> 40 by 0.5", ...; with names when given.
    std::string describe(const std::vector<std::string>* names = nullptr) const;
    bool operator==(const ModelEdit&) const = default;
};

struct ModelPatch {
    std::vector<ModelEdit> edits;
    int64_t vocabSize = 0;                // of the model the patch was made on (checked on apply)
    std::string modelSha256;              // optional: of the model file the patch was made on
    std::map<int32_t, std::string> names; // optional: node names of the ids the edits use

    // Fills `names` for every id the edits use from a vocabulary (id -> token).
    void nameIds(const std::vector<std::string>& vocabulary);
    // Ids whose recorded name differs from the vocabulary's (a patch made on another model with
    // the same vocabulary size): one message per id, empty when all agree or no names are kept.
    std::vector<std::string> nameMismatches(const std::vector<std::string>& vocabulary) const;
};

// The edited model: a new Model (tensors copied; the input is not modified). The edge table gains
// the materialised pairs. Throws InputError for ids out of range, a vocabulary size that does not
// match, or a non-finite scale factor.
Model applyEdits(const Model& model, const std::vector<ModelEdit>& edits);

// Pairs that are materialised by the edits (they are on the shared slot of `model`), sorted.
std::vector<std::pair<int32_t, int32_t>> materialisedPairs(const Model& model, const std::vector<ModelEdit>& edits);

// JSON patch files. save writes atomically; load throws InputError naming the file and what was
// expected (format, version, edit fields).
void savePatch(const ModelPatch& patch, const std::filesystem::path& path);
ModelPatch loadPatch(const std::filesystem::path& path);
std::string patchToJson(const ModelPatch& patch);
ModelPatch patchFromJson(const std::string& json, const std::string& sourceName = "patch");

} // namespace brillm
