// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// AnalysisWorker: the error-tracing work of the studio - forced paths, blame reports, edited
// models, patched model files, comparisons - on a thread of its own. Like StudioWorker it only
// emits results (xxxAvailable / failed); every request carries a job id that comes back, so the
// caller drops stale results with a JobTracker. Each caller owns its worker (AnalysisRunner), so
// job ids of different callers never meet.
//
// Results are plain structs shared as pointers to const: read-only from any thread.

#include "studio/studio_model.h"
#include "studio/studio_worker.h"

#include <brillm/model/blame.h>
#include <brillm/model/decode.h>
#include <brillm/model/model_edit.h>

#include <QObject>
#include <QString>
#include <QThread>

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

namespace brillm::viz {

// ---- forced path ----
struct ForcedPathRequest {
    std::vector<int32_t> prompt;   // at least one node
    std::vector<int32_t> expected; // the continuation the user expected (may be empty)
    PositionConvention convention = PositionConvention::Training;
    bool excludeSelfLoop = true;
    std::vector<int32_t> banned; // never the winner, as in decoding
};

struct ForcedPathResult {
    ForcedPathRequest request;
    ForcedPath path; // forcePath(): expected rank, probability, margin of every step
    Trace trace;     // tracePath() of the same path: every step's candidates, for the A/B pickers
    StudioModelPtr model;
    double ms = 0;
    std::vector<int32_t> tokens() const; // prompt followed by expected
};
using ForcedPathPtr = std::shared_ptr<const ForcedPathResult>;

// ---- blame ----
struct BlameResult {
    BlameReport report;
    StudioModelPtr model;
    double ms = 0;
};
using BlamePtr = std::shared_ptr<const BlameResult>;

// ---- edits ----
struct EditedModelResult {
    StudioModelPtr model; // the original itself when there are no edits
    std::vector<ModelEdit> edits;
    double ms = 0;
};
using EditedModelPtr = std::shared_ptr<const EditedModelResult>;

// A StudioModel whose parameters are applyEdits(original, edits); labels and codec shared with
// the original. Returns the original itself for an empty list. Throws brillm::Error.
StudioModelPtr editedStudioModel(const StudioModelPtr& original, const std::vector<ModelEdit>& edits);

// Metadata of the patched model file: the original's, with a "patched" entry in the provenance
// (source model and checksum, the patch JSON, the edits in words), as `brillm patch apply` writes.
ModelMetadata patchedMetadata(const StudioModel& original, const ModelPatch& patch);

// ---- comparison ----
enum class CompareMode { TwoPrompts, TwoModels, BeforeAfterEdits };

struct CompareRequest {
    CompareMode mode = CompareMode::TwoPrompts;
    StudioModelPtr left, right; // the same model for TwoPrompts
    std::vector<int32_t> promptLeft, promptRight;
    DecodeOptions options;
    std::vector<ModelEdit> edits; // BeforeAfterEdits: the edits that make right from left
    AblationMode ablation = AblationMode::Shared;
};

struct CompareResult {
    CompareRequest request;
    Trace left, right;
    // First generated position where the continuations differ, -1 when they agree over the
    // shorter one. The steps there: left.steps[leftStep], right.steps[rightStep].
    int64_t divergence = -1;
    int64_t leftStep = -1, rightStep = -1;
    // Why each side took its token and not the other side's, at the divergence step, on its own
    // model (BeforeAfterEdits: only the right, "why the new winner, not the old one").
    std::optional<BlameReport> leftBlame, rightBlame;
    QString leftBlameNote, rightBlameNote; // why a blame is missing
    // BeforeAfterEdits: indices of the edits whose edge or node lies on either path up to the
    // divergence step, or is one of the two competing candidate edges there.
    std::vector<int> relevantEdits;
    double ms = 0;
};
using ComparePtr = std::shared_ptr<const CompareResult>;

// Pure, any thread: the comparison of two finished traces and its explanation.
CompareResult compareTraces(const CompareRequest& request);
// The edits (indices) that change one of `pairs`: an edge edit of that pair, or a node knockout
// of its source or target.
std::vector<int> editsTouching(const std::vector<ModelEdit>& edits,
                               const std::vector<std::pair<int32_t, int32_t>>& pairs);

class AnalysisWorker : public QObject {
    Q_OBJECT
public:
    enum Task { ForcedPathTask, BlameTask, EditTask, WriteTask, CompareTask, LoadTask };
    Q_ENUM(Task)
    explicit AnalysisWorker(QObject* parent = nullptr) : QObject(parent) {}
    // Thread-safe: a model being written stops at its next chunk (the target is left untouched).
    void stop() { m_stop.store(true); }

public Q_SLOTS:
    void forcePath(quint64 job, brillm::viz::StudioModelPtr model, const brillm::viz::ForcedPathRequest& request);
    void blame(quint64 job, brillm::viz::StudioModelPtr model, const brillm::BlameQuery& query);
    void applyEdits(quint64 job, brillm::viz::StudioModelPtr original, const std::vector<brillm::ModelEdit>& edits);
    // applyEdits(original, patch.edits) written to path with ModelFile::save (atomic), the stored
    // dtype and metadata of the original kept, the provenance noting the patch.
    void writePatchedModel(quint64 job, brillm::viz::StudioModelPtr original, const brillm::ModelPatch& patch,
                           const QString& path);
    void compare(quint64 job, const brillm::viz::CompareRequest& request);
    void loadModel(quint64 job, const QString& path);

Q_SIGNALS:
    void forcedPathAvailable(quint64 job, brillm::viz::ForcedPathPtr result);
    void blameAvailable(quint64 job, brillm::viz::BlamePtr result);
    void editedModelAvailable(quint64 job, brillm::viz::EditedModelPtr result);
    void modelWritten(quint64 job, const QString& path, double ms);
    void comparisonAvailable(quint64 job, brillm::viz::ComparePtr result);
    void modelAvailable(quint64 job, brillm::viz::StudioModelPtr model);
    void failed(quint64 job, int task, const QString& message);
    void progress(quint64 job, double fraction);

private:
    std::atomic<bool> m_stop{false};
};

// Owns an AnalysisWorker on its own QThread; stops and joins it on destruction. UI thread.
class AnalysisRunner : public QObject {
    Q_OBJECT
public:
    explicit AnalysisRunner(const QString& name, QObject* parent = nullptr);
    ~AnalysisRunner() override;
    AnalysisWorker* worker() const { return m_worker; }
    // Runs f() on the worker's thread (queued).
    template <class F> void post(F&& f) {
        QMetaObject::invokeMethod(m_worker, std::forward<F>(f), Qt::QueuedConnection);
    }

private:
    QThread m_thread;
    AnalysisWorker* m_worker;
};

void registerAnalysisMetaTypes();

} // namespace brillm::viz

Q_DECLARE_METATYPE(brillm::viz::ForcedPathPtr)
Q_DECLARE_METATYPE(brillm::viz::BlamePtr)
Q_DECLARE_METATYPE(brillm::viz::EditedModelPtr)
Q_DECLARE_METATYPE(brillm::viz::ComparePtr)
