// SPDX-License-Identifier: GPL-3.0-or-later
#include "studio/model_edits.h"

#include "studio/studio_document.h"

#include <brillm/error.h>
#include <brillm/io/model_file.h>
#include <brillm/io/sharded_model.h>

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QInputDialog>
#include <QLabel>
#include <QListWidget>
#include <QMenu>
#include <QMessageBox>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QUndoCommand>
#include <QUndoStack>
#include <QUndoView>
#include <QVBoxLayout>

#include <cmath>

namespace brillm::viz {

// One change of the list: the list before and after (add, remove, load a patch, clear).
class EditsCommand : public QUndoCommand {
public:
    EditsCommand(ModelEdits* owner, std::vector<ModelEdit> before, std::vector<ModelEdit> after, const QString& text)
        : QUndoCommand(text), m_owner(owner), m_before(std::move(before)), m_after(std::move(after)) {}
    void redo() override { m_owner->applyList(m_after); }
    void undo() override { m_owner->applyList(m_before); }

private:
    ModelEdits* m_owner;
    std::vector<ModelEdit> m_before, m_after;
};

ModelEdits::ModelEdits(StudioDocument* doc, QObject* parent)
    : QObject(parent), m_doc(doc), m_stack(new QUndoStack(this)),
      m_runner(new AnalysisRunner(QStringLiteral("brillm-edits"), this)) {
    auto* w = m_runner->worker();
    connect(w, &AnalysisWorker::editedModelAvailable, this, [this](quint64 job, EditedModelPtr r) {
        if (!m_builds.accept(job)) return;
        m_builds.invalidate();
        if (!m_doc->hasModel() || m_doc->originalModel() != m_original) return; // another model was opened meanwhile
        m_lastApplyMs = r->ms;
        m_applied = r->edits;
        m_doc->setEditedModel(r->model, static_cast<int>(r->edits.size()));
        m_waitingRerun = m_doc->isGenerating(); // false: there was no completion to run again
        Q_EMIT editedModelReady(static_cast<int>(r->edits.size()), r->ms);
    });
    connect(w, &AnalysisWorker::modelWritten, this, [this](quint64 job, const QString& path, double ms) {
        if (!m_writes.accept(job)) return;
        m_writes.invalidate();
        Q_EMIT modelWritten(path, ms);
    });
    connect(w, &AnalysisWorker::progress, this, [this](quint64 job, double f) {
        if (m_writes.isCurrent(job)) Q_EMIT writeProgress(f);
    });
    connect(w, &AnalysisWorker::failed, this, [this](quint64 job, int task, const QString& message) {
        if (task == AnalysisWorker::WriteTask) {
            if (!m_writes.accept(job)) return;
            m_writes.invalidate();
            Q_EMIT failed(tr("Could not write the patched model: %1").arg(message));
            return;
        }
        if (task != AnalysisWorker::EditTask || !m_builds.accept(job)) return;
        m_builds.invalidate();
        // The model on screen is the last one that could be built: take the list back to it.
        if (m_stack->canUndo()) m_stack->undo();
        Q_EMIT failed(tr("Could not apply the edits: %1").arg(message));
    });
    connect(doc, &StudioDocument::modelChanged, this, &ModelEdits::onModelChanged);
    connect(doc, &StudioDocument::traceFinished, this, [this] {
        if (!m_waitingRerun || m_doc->isGenerating()) return;
        m_waitingRerun = false;
        m_lastEditToCompletionMs = static_cast<double>(m_editTimer.nsecsElapsed()) * 1e-6;
        Q_EMIT rerunFinished(m_lastEditToCompletionMs);
    });
    onModelChanged();
}

ModelEdits::~ModelEdits() = default;

void ModelEdits::onModelChanged() {
    // A model that was opened (not an edited one): its own, empty list of edits.
    if (m_doc->originalModel() == m_original) return;
    m_original = m_doc->originalModel();
    m_checksum.clear();
    if (m_original) {
        try { // the header only: milliseconds whatever the model's size
            m_checksum = brillm::modelChecksum(m_original->path.toStdString());
        } catch (const std::exception&) {
            // not a BriLLM model file (a converted checkpoint): no checksum to record
        }
    }
    m_builds.invalidate();
    m_waitingRerun = false;
    m_stack->clear();
    m_edits.clear();
    m_applied.clear();
    Q_EMIT editsChanged();
}

QString ModelEdits::describe(const ModelEdit& edit) const {
    auto label = [this](int32_t n) { return m_original ? m_original->label(n) : QStringLiteral("#%1").arg(n); };
    switch (edit.kind) {
    case EditKind::KnockoutEdge:
        return tr("knock out %1 → %2").arg(label(edit.source), label(edit.target));
    case EditKind::KnockoutNode:
        return tr("knock out node %1").arg(label(edit.source));
    case EditKind::ScaleEdge:
        return tr("scale %1 → %2 by %3").arg(label(edit.source), label(edit.target)).arg(edit.factor, 0, 'g', 4);
    case EditKind::SwapShared:
        return tr("swap %1 → %2 with the shared matrix").arg(label(edit.source), label(edit.target));
    case EditKind::ZeroEdge:
        return tr("zero %1 → %2").arg(label(edit.source), label(edit.target));
    }
    return {};
}

void ModelEdits::add(const ModelEdit& edit) {
    if (!m_original) return;
    auto after = m_edits;
    after.push_back(edit);
    m_stack->push(new EditsCommand(this, m_edits, std::move(after), describe(edit)));
}

void ModelEdits::remove(int index) {
    if (index < 0 || index >= count()) return;
    auto after = m_edits;
    after.erase(after.begin() + index);
    m_stack->push(new EditsCommand(this, m_edits, std::move(after),
                                   tr("remove: %1").arg(describe(m_edits[static_cast<size_t>(index)]))));
}

void ModelEdits::setEdits(std::vector<ModelEdit> edits, const QString& text) {
    if (!m_original) return;
    m_stack->push(new EditsCommand(this, m_edits, std::move(edits), text));
}

void ModelEdits::clear() {
    if (!m_edits.empty()) setEdits({}, tr("remove every edit"));
}

void ModelEdits::applyList(const std::vector<ModelEdit>& edits) {
    m_edits = edits;
    Q_EMIT editsChanged();
    rebuild();
}

void ModelEdits::rebuild() {
    if (!m_original) return;
    m_editTimer.start();
    const quint64 job = m_builds.start();
    m_runner->post(
        [w = m_runner->worker(), job, original = m_original, edits = m_edits] { w->applyEdits(job, original, edits); });
}

ModelPatch ModelEdits::patch() const {
    ModelPatch p;
    p.edits = m_edits;
    if (!m_original) return p;
    p.vocabSize = m_original->vocabSize();
    p.modelSha256 = m_checksum;
    const auto& vocab = m_original->loaded.metadata.vocabulary;
    if (static_cast<int64_t>(vocab.size()) == p.vocabSize) p.nameIds(vocab);
    return p;
}

QString ModelEdits::savePatch(const QString& path) const {
    try {
        brillm::savePatch(patch(), path.toStdString());
        m_stack->setClean(); // the edits are saved: quitting need not ask
        return {};
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
}

QString ModelEdits::loadPatch(const QString& path, bool force, bool* namesDiffer) {
    if (namesDiffer) *namesDiffer = false;
    if (!m_original) return tr("No model is open.");
    try {
        ModelPatch p = brillm::loadPatch(path.toStdString());
        if (p.vocabSize != 0 && p.vocabSize != m_original->vocabSize())
            return tr("%1 was made for a model of %2 nodes; this one has %3.")
                .arg(path)
                .arg(p.vocabSize)
                .arg(m_original->vocabSize());
        for (const auto& e : p.edits) {
            const bool bad =
                e.source < 0 || e.source >= m_original->vocabSize() ||
                (e.kind != EditKind::KnockoutNode && (e.target < 0 || e.target >= m_original->vocabSize()));
            if (bad)
                return tr("%1: the edit \"%2\" names a node outside this model.")
                    .arg(path, QString::fromStdString(e.describe()));
        }
        const auto& vocab = m_original->loaded.metadata.vocabulary;
        const auto mismatches = vocab.empty() ? std::vector<std::string>{} : p.nameMismatches(vocab);
        if (!mismatches.empty() && !force) {
            if (namesDiffer) *namesDiffer = true;
            QString msg = tr("%1 was made on another vocabulary:").arg(path);
            for (size_t k = 0; k < std::min<size_t>(mismatches.size(), 5); ++k)
                msg += QStringLiteral("\n  ") + QString::fromStdString(mismatches[k]);
            return msg;
        }
        setEdits(std::move(p.edits), tr("load patch %1").arg(QFileInfo(path).fileName()));
        return {};
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
}

void ModelEdits::writePatchedModel(const QString& path) {
    if (!m_original) {
        Q_EMIT failed(tr("No model is open."));
        return;
    }
    const quint64 job = m_writes.start();
    m_runner->post([w = m_runner->worker(), job, original = m_original, p = patch(), path] {
        w->writePatchedModel(job, original, p, path);
    });
}

void ModelEdits::fillMenu(QMenu* menu, int32_t source, int32_t target, QWidget* dialogParent) {
    if (!m_original) return;
    if (target < 0) {
        menu->addSection(tr("Node %1").arg(m_original->label(source)));
        menu->addAction(tr("Knock out node %1").arg(m_original->label(source)), this,
                        [this, source] { knockoutNode(source); });
        return;
    }
    const QString s = m_original->label(source), t = m_original->label(target);
    menu->addSection(tr("Edge %1 → %2").arg(s, t));
    menu->addAction(tr("Knock out edge"), this, [this, source, target] { knockoutEdge(source, target); });
    menu->addAction(tr("Scale edge…"), this, [this, source, target, dialogParent] {
        bool ok = false;
        const double f = QInputDialog::getDouble(
            dialogParent, tr("Scale edge"),
            tr("Multiply W and b of %1 → %2 by").arg(m_original->label(source), m_original->label(target)), 0.5, -1000,
            1000, 4, &ok);
        if (ok) scaleEdge(source, target, f);
    });
    QAction* swap =
        menu->addAction(tr("Swap with shared matrix"), this, [this, source, target] { swapShared(source, target); });
    if (m_doc->hasModel() && m_doc->model()->model().edges.isShared(source, target)) {
        swap->setEnabled(false);
        swap->setToolTip(tr("this edge already uses the shared matrix"));
    }
    menu->addAction(tr("Zero edge"), this, [this, source, target] { zeroEdge(source, target); });
    menu->addSeparator();
    menu->addAction(tr("Knock out node %1").arg(s), this, [this, source] { knockoutNode(source); });
    if (target != source)
        menu->addAction(tr("Knock out node %1").arg(t), this, [this, target] { knockoutNode(target); });
    menu->addSeparator();
    menu->addAction(tr("Inspect edge"), this, [this, source, target] { m_doc->inspectEdge(source, target); });
}

// ---------------------------------------------------------------- panel

EditsPanel::EditsPanel(StudioDocument* doc, ModelEdits* edits, QWidget* parent)
    : QWidget(parent), m_doc(doc), m_edits(edits) {
    m_state = new QLabel;
    m_state->setTextFormat(Qt::RichText);
    m_list = new QListWidget;
    m_list->setSelectionMode(QAbstractItemView::SingleSelection);
    m_list->setToolTip(tr("The edits, applied in this order to the model as opened"));
    auto* history = new QUndoView(edits->undoStack());
    history->setEmptyLabel(tr("<model as opened>"));
    history->setToolTip(tr("Undo history: click an entry to go back to it"));
    auto* undo = new QPushButton(tr("Undo"));
    auto* redo = new QPushButton(tr("Redo"));
    m_remove = new QPushButton(tr("Remove"));
    m_clear = new QPushButton(tr("Remove all"));
    auto* load = new QPushButton(tr("Load patch…"));
    m_save = new QPushButton(tr("Save patch…"));
    m_write = new QPushButton(tr("Write patched model…"));
    m_progress = new QProgressBar;
    m_progress->setRange(0, 100);
    m_progress->setVisible(false);

    auto* lists = new QHBoxLayout;
    auto* left = new QVBoxLayout;
    left->addWidget(new QLabel(tr("Edits (in order)")));
    left->addWidget(m_list, 1);
    auto* right = new QVBoxLayout;
    right->addWidget(new QLabel(tr("History")));
    right->addWidget(history, 1);
    lists->addLayout(left, 3);
    lists->addLayout(right, 2);
    auto* row1 = new QHBoxLayout;
    for (auto* b : {undo, redo, m_remove, m_clear})
        row1->addWidget(b);
    row1->addStretch(1);
    auto* row2 = new QHBoxLayout;
    for (auto* b : {load, m_save, m_write})
        row2->addWidget(b);
    row2->addWidget(m_progress, 1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(m_state);
    layout->addLayout(lists, 1);
    layout->addLayout(row1);
    layout->addLayout(row2);

    connect(undo, &QPushButton::clicked, edits->undoStack(), &QUndoStack::undo);
    connect(redo, &QPushButton::clicked, edits->undoStack(), &QUndoStack::redo);
    connect(edits->undoStack(), &QUndoStack::canUndoChanged, undo, &QWidget::setEnabled);
    connect(edits->undoStack(), &QUndoStack::canRedoChanged, redo, &QWidget::setEnabled);
    undo->setEnabled(false);
    redo->setEnabled(false);
    connect(m_remove, &QPushButton::clicked, this, [this] { m_edits->remove(m_list->currentRow()); });
    connect(m_clear, &QPushButton::clicked, m_edits, &ModelEdits::clear);
    connect(load, &QPushButton::clicked, this, &EditsPanel::loadPatchDialog);
    connect(m_save, &QPushButton::clicked, this, &EditsPanel::savePatchDialog);
    connect(m_write, &QPushButton::clicked, this, &EditsPanel::writePatchedModelDialog);
    connect(m_list, &QListWidget::currentRowChanged, this, [this](int row) { m_remove->setEnabled(row >= 0); });

    connect(edits, &ModelEdits::editsChanged, this, &EditsPanel::refresh);
    connect(edits, &ModelEdits::editedModelReady, this, &EditsPanel::refresh);
    connect(edits, &ModelEdits::rerunFinished, this, [this](double ms) {
        Q_EMIT message(tr("Edited model: completion re-run %1 ms after the edit (applyEdits %2 ms)")
                           .arg(ms, 0, 'f', 0)
                           .arg(m_edits->lastApplyMs(), 0, 'f', 0));
    });
    connect(edits, &ModelEdits::writeProgress, this, [this](double f) {
        m_progress->setVisible(true);
        m_progress->setValue(static_cast<int>(f * 100));
    });
    connect(edits, &ModelEdits::modelWritten, this, [this](const QString& path, double ms) {
        m_progress->setVisible(false);
        Q_EMIT message(tr("Wrote %1 (%2 ms)").arg(path).arg(ms, 0, 'f', 0));
    });
    connect(edits, &ModelEdits::failed, this, [this] { m_progress->setVisible(false); });
    connect(doc, &StudioDocument::modelChanged, this, &EditsPanel::refresh);
    connect(doc, &StudioDocument::editMenuRequested, this, &EditsPanel::showMenu);
    refresh();
}

QString EditsPanel::stateText() const {
    return m_state->text();
}

void EditsPanel::refresh() {
    m_list->clear();
    for (const auto& e : m_edits->edits())
        m_list->addItem(m_edits->describe(e));
    const int n = m_edits->count();
    const int shown = m_doc->editCount();
    QString text;
    if (!m_doc->hasModel())
        text = tr("No model is open.");
    else if (n == 0 && shown == 0)
        text = tr("Model as opened: no edits.");
    else if (m_edits->isBuilding())
        text = tr("<b>Edited (%1 edits)</b> - building the edited model…").arg(n);
    else
        text = tr("<b style='color:#c05000'>Edited (%1 edit%2)</b> - every view shows the edited model")
                   .arg(shown)
                   .arg(shown == 1 ? "" : "s");
    m_state->setText(text);
    m_remove->setEnabled(m_list->currentRow() >= 0);
    m_clear->setEnabled(n > 0);
    m_save->setEnabled(n > 0);
    m_write->setEnabled(n > 0);
}

void EditsPanel::showMenu(int32_t source, int32_t target, const QPoint& globalPos) {
    QMenu menu(this);
    m_edits->fillMenu(&menu, source, target, window());
    if (!menu.isEmpty()) menu.exec(globalPos);
}

void EditsPanel::savePatchDialog() {
    const QString dir = QSettings().value(QStringLiteral("patchDir"), QDir::homePath()).toString();
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Save patch"), QDir(dir).filePath(QStringLiteral("edits.patch.json")),
                                     tr("Patches (*.json);;All files (*)"));
    if (path.isEmpty()) return;
    QSettings().setValue(QStringLiteral("patchDir"), QFileInfo(path).absolutePath());
    const QString err = m_edits->savePatch(path);
    if (!err.isEmpty())
        QMessageBox::warning(this, tr("Cannot save the patch"), err);
    else
        Q_EMIT message(tr("Wrote %1").arg(path));
}

void EditsPanel::loadPatchDialog() {
    const QString dir = QSettings().value(QStringLiteral("patchDir"), QDir::homePath()).toString();
    const QString path =
        QFileDialog::getOpenFileName(this, tr("Load patch"), dir, tr("Patches (*.json);;All files (*)"));
    if (path.isEmpty()) return;
    QSettings().setValue(QStringLiteral("patchDir"), QFileInfo(path).absolutePath());
    bool namesDiffer = false;
    QString err = m_edits->loadPatch(path, /*force=*/false, &namesDiffer);
    if (namesDiffer &&
        QMessageBox::question(this, tr("Load patch"), err + tr("\n\nApply it anyway?")) == QMessageBox::Yes)
        err = m_edits->loadPatch(path, /*force=*/true);
    if (!err.isEmpty()) QMessageBox::warning(this, tr("Cannot load the patch"), err);
}

void EditsPanel::writePatchedModelDialog() {
    if (!m_doc->hasModel()) return;
    const QFileInfo src(m_doc->originalModel()->path);
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Write patched model"),
        src.absoluteDir().filePath(src.completeBaseName() + QStringLiteral("-patched.brillm")),
        tr("BriLLM models (*.brillm);;All files (*)"));
    if (path.isEmpty()) return;
    if (QFileInfo(path).absoluteFilePath() == src.absoluteFilePath()) {
        QMessageBox::warning(this, tr("Write patched model"),
                             tr("Choose another file: the open model is read from %1.").arg(path));
        return;
    }
    m_progress->setValue(0);
    m_progress->setVisible(true);
    m_edits->writePatchedModel(path);
}

} // namespace brillm::viz
