// SPDX-License-Identifier: GPL-3.0-or-later
#include "studio/analysis_worker.h"

#include <brillm/error.h>
#include <brillm/io/model_file.h>

#include <QElapsedTimer>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

#include <algorithm>
#include <set>

namespace brillm::viz {

namespace {
double msSince(const QElapsedTimer& t) {
    return static_cast<double>(t.nsecsElapsed()) * 1e-6;
}

PositionConvention conventionOf(const DecodeOptions& o) {
    return o.referenceDecode ? PositionConvention::Reference : PositionConvention::Training;
}

// The node of `other`'s node `id` in `model`: the same id when the vocabularies agree there,
// else the node with the same text, else -1.
int32_t mapNode(const StudioModel& model, const StudioModel& other, int32_t id) {
    if (&model == &other) return id;
    const QString text = other.text(id);
    if (id >= 0 && id < model.vocabSize() && model.text(id) == text) return id;
    const auto i = model.texts.indexOf(text);
    return i < 0 ? -1 : static_cast<int32_t>(i);
}

std::optional<BlameReport> blameAt(const StudioModel& model, const Trace& trace, int64_t step, int32_t b,
                                   const DecodeOptions& options, AblationMode mode, QString* note) {
    const int32_t a = trace.tokens[static_cast<size_t>(step + 1)];
    if (b < 0) {
        *note = QStringLiteral("the other side's token is not in this model's vocabulary");
        return std::nullopt;
    }
    BlameQuery q;
    q.path.assign(trace.tokens.begin(), trace.tokens.begin() + step + 1);
    q.a = a;
    q.b = b;
    q.mode = mode;
    q.convention = conventionOf(options);
    q.excludeSelfLoop = options.excludeSelfLoop;
    try {
        return brillm::blame(model.model(), q);
    } catch (const std::exception& e) {
        *note = QString::fromStdString(e.what());
        return std::nullopt;
    }
}

std::vector<std::pair<int32_t, int32_t>> edgesUpTo(const Trace& t, int64_t lastStep) {
    std::vector<std::pair<int32_t, int32_t>> out;
    const auto n = std::min<int64_t>(lastStep + 1, static_cast<int64_t>(t.tokens.size()) - 1);
    for (int64_t i = 0; i < n; ++i)
        out.emplace_back(t.tokens[static_cast<size_t>(i)], t.tokens[static_cast<size_t>(i + 1)]);
    return out;
}
} // namespace

std::vector<int32_t> ForcedPathResult::tokens() const {
    std::vector<int32_t> t = request.prompt;
    t.insert(t.end(), request.expected.begin(), request.expected.end());
    return t;
}

StudioModelPtr editedStudioModel(const StudioModelPtr& original, const std::vector<ModelEdit>& edits) {
    if (!original) throw InputError("no model is open");
    if (edits.empty()) return original;
    auto sm = std::make_shared<StudioModel>(*original);
    sm->loaded.model = brillm::applyEdits(original->model(), edits);
    return sm;
}

ModelMetadata patchedMetadata(const StudioModel& original, const ModelPatch& patch) {
    ModelMetadata meta = original.loaded.metadata;
    QJsonObject prov;
    const QJsonDocument old = QJsonDocument::fromJson(QByteArray::fromStdString(meta.provenanceJson));
    if (old.isObject())
        prov = old.object();
    else if (!meta.provenanceJson.empty())
        prov[QStringLiteral("original_provenance")] = QString::fromStdString(meta.provenanceJson);
    // The same record as `brillm patch apply` writes, plus the edits in words.
    QJsonObject p;
    p[QStringLiteral("from")] = QFileInfo(original.path).absoluteFilePath();
    p[QStringLiteral("from_checksum")] = QString::fromStdString(patch.modelSha256);
    const QJsonDocument pj = QJsonDocument::fromJson(QByteArray::fromStdString(patchToJson(patch)));
    if (pj.isObject()) p[QStringLiteral("patch")] = pj.object();
    QJsonArray described;
    const auto& vocab = meta.vocabulary;
    const auto* names = static_cast<int64_t>(vocab.size()) == original.vocabSize() ? &vocab : nullptr;
    for (const auto& e : patch.edits)
        described.append(QString::fromStdString(e.describe(names)));
    p[QStringLiteral("edits")] = described;
    p[QStringLiteral("tool")] = QStringLiteral("brillm-studio");
    prov[QStringLiteral("patched")] = p;
    meta.provenanceJson = QJsonDocument(prov).toJson(QJsonDocument::Compact).toStdString();
    return meta;
}

std::vector<int> editsTouching(const std::vector<ModelEdit>& edits,
                               const std::vector<std::pair<int32_t, int32_t>>& pairs) {
    const std::set<std::pair<int32_t, int32_t>> ps(pairs.begin(), pairs.end());
    std::set<int32_t> nodes;
    for (const auto& [s, t] : pairs)
        nodes.insert({s, t});
    std::vector<int> out;
    for (size_t i = 0; i < edits.size(); ++i) {
        const auto& e = edits[i];
        const bool hit =
            e.kind == EditKind::KnockoutNode ? nodes.count(e.source) > 0 : ps.count({e.source, e.target}) > 0;
        if (hit) out.push_back(static_cast<int>(i));
    }
    return out;
}

CompareResult compareTraces(const CompareRequest& request) {
    if (!request.left || !request.right) throw InputError("both sides of a comparison need a model");
    if (request.promptLeft.empty() || request.promptRight.empty())
        throw InputError("both prompts need at least one token");
    QElapsedTimer timer;
    timer.start();
    CompareResult r;
    r.request = request;
    r.left = decode(request.left->model(), request.promptLeft, request.options);
    r.right = decode(request.right->model(), request.promptRight, request.options);
    const auto gl = r.left.generated(), gr = r.right.generated();
    const size_t n = std::min(gl.size(), gr.size());
    for (size_t g = 0; g < n; ++g) {
        // Tokens of two models are compared by their text (vocabularies may be numbered apart).
        const bool same =
            request.left == request.right ? gl[g] == gr[g] : request.left->text(gl[g]) == request.right->text(gr[g]);
        if (!same) {
            r.divergence = static_cast<int64_t>(g);
            break;
        }
    }
    if (r.divergence >= 0) {
        r.leftStep = r.left.promptTokens - 1 + r.divergence;
        r.rightStep = r.right.promptTokens - 1 + r.divergence;
        const int32_t lt = gl[static_cast<size_t>(r.divergence)], rt = gr[static_cast<size_t>(r.divergence)];
        if (request.mode != CompareMode::BeforeAfterEdits)
            r.leftBlame = blameAt(*request.left, r.left, r.leftStep, mapNode(*request.left, *request.right, rt),
                                  request.options, request.ablation, &r.leftBlameNote);
        else
            r.leftBlameNote = QStringLiteral("before the edits: see the right side for why the winner changed");
        r.rightBlame = blameAt(*request.right, r.right, r.rightStep, mapNode(*request.right, *request.left, lt),
                               request.options, request.ablation, &r.rightBlameNote);
    }
    if (request.mode == CompareMode::BeforeAfterEdits) {
        const int64_t lastL = r.divergence >= 0 ? r.leftStep : static_cast<int64_t>(r.left.steps.size()) - 1;
        const int64_t lastR = r.divergence >= 0 ? r.rightStep : static_cast<int64_t>(r.right.steps.size()) - 1;
        auto pairs = edgesUpTo(r.left, lastL);
        const auto pr = edgesUpTo(r.right, lastR);
        pairs.insert(pairs.end(), pr.begin(), pr.end());
        r.relevantEdits = editsTouching(request.edits, pairs);
    }
    r.ms = msSince(timer);
    return r;
}

// ---------------------------------------------------------------- worker

void AnalysisWorker::forcePath(quint64 job, StudioModelPtr model, const ForcedPathRequest& request) {
    try {
        if (!model) throw InputError("no model is open");
        QElapsedTimer timer;
        timer.start();
        auto r = std::make_shared<ForcedPathResult>();
        r->request = request;
        r->model = model;
        r->path = brillm::forcePath(model->model(), request.prompt, request.expected, request.convention,
                                    request.excludeSelfLoop, request.banned);
        DecodeOptions o;
        o.excludeSelfLoop = request.excludeSelfLoop;
        o.bannedTokens = request.banned;
        o.referenceDecode = request.convention == PositionConvention::Reference;
        r->trace = tracePath(model->model(), r->tokens(), o);
        r->ms = msSince(timer);
        Q_EMIT forcedPathAvailable(job, std::move(r));
    } catch (const std::exception& e) {
        Q_EMIT failed(job, ForcedPathTask, QString::fromStdString(e.what()));
    }
}

void AnalysisWorker::blame(quint64 job, StudioModelPtr model, const BlameQuery& query) {
    try {
        if (!model) throw InputError("no model is open");
        QElapsedTimer timer;
        timer.start();
        auto r = std::make_shared<BlameResult>();
        r->model = model;
        r->report = brillm::blame(model->model(), query);
        r->ms = msSince(timer);
        Q_EMIT blameAvailable(job, std::move(r));
    } catch (const std::exception& e) {
        Q_EMIT failed(job, BlameTask, QString::fromStdString(e.what()));
    }
}

void AnalysisWorker::applyEdits(quint64 job, StudioModelPtr original, const std::vector<ModelEdit>& edits) {
    try {
        QElapsedTimer timer;
        timer.start();
        auto r = std::make_shared<EditedModelResult>();
        r->model = editedStudioModel(original, edits);
        r->edits = edits;
        r->ms = msSince(timer);
        Q_EMIT editedModelAvailable(job, std::move(r));
    } catch (const std::exception& e) {
        Q_EMIT failed(job, EditTask, QString::fromStdString(e.what()));
    }
}

void AnalysisWorker::writePatchedModel(quint64 job, StudioModelPtr original, const ModelPatch& patch,
                                       const QString& path) {
    try {
        if (!original) throw InputError("no model is open");
        QElapsedTimer timer;
        timer.start();
        const Model edited = brillm::applyEdits(original->model(), patch.edits);
        ModelSaveOptions options;
        options.dtype = original->loaded.storedDtype;
        options.progress = [this, job](uint64_t done, uint64_t total) {
            if (total > 0) Q_EMIT progress(job, static_cast<double>(done) / static_cast<double>(total));
            return !m_stop.load();
        };
        ModelFile::save(path.toStdString(), edited, patchedMetadata(*original, patch), options);
        Q_EMIT modelWritten(job, path, msSince(timer));
    } catch (const std::exception& e) {
        Q_EMIT failed(job, WriteTask, QString::fromStdString(e.what()));
    }
}

void AnalysisWorker::compare(quint64 job, const CompareRequest& request) {
    try {
        Q_EMIT comparisonAvailable(job, std::make_shared<const CompareResult>(compareTraces(request)));
    } catch (const std::exception& e) {
        Q_EMIT failed(job, CompareTask, QString::fromStdString(e.what()));
    }
}

void AnalysisWorker::loadModel(quint64 job, const QString& path) {
    try {
        Q_EMIT modelAvailable(job, StudioModel::load(path));
    } catch (const std::exception& e) {
        Q_EMIT failed(job, LoadTask, QString::fromStdString(e.what()));
    }
}

// ---------------------------------------------------------------- runner

AnalysisRunner::AnalysisRunner(const QString& name, QObject* parent) : QObject(parent) {
    registerAnalysisMetaTypes();
    m_worker = new AnalysisWorker;
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    m_thread.setObjectName(name);
    m_thread.start();
}

AnalysisRunner::~AnalysisRunner() {
    m_worker->stop();
    m_thread.quit();
    m_thread.wait();
}

void registerAnalysisMetaTypes() {
    registerStudioMetaTypes();
    qRegisterMetaType<ForcedPathPtr>("brillm::viz::ForcedPathPtr");
    qRegisterMetaType<BlamePtr>("brillm::viz::BlamePtr");
    qRegisterMetaType<EditedModelPtr>("brillm::viz::EditedModelPtr");
    qRegisterMetaType<ComparePtr>("brillm::viz::ComparePtr");
}

} // namespace brillm::viz
