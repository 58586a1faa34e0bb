// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// ModelEdits: the edits of the open model (knock out, scale, swap with the shared matrix, zero
// an edge; knock out a node) as an undo stack. Every change builds the edited model with
// applyEdits() on a worker (stale builds dropped) and hands it to the document, which shows it
// and runs the current completion again. Patches save to and load from JSON (savePatch /
// loadPatch); "write patched model" writes a new model file off the UI thread.
//
// EditsPanel: the list of edits, the undo history, the "edited (N edits)" state, and the
// buttons for patches. It also shows the edit menu the views ask for
// (StudioDocument::editMenuRequested).

#include "studio/analysis_worker.h"
#include "studio/job_tracker.h"

#include <brillm/model/model_edit.h>

#include <QElapsedTimer>
#include <QObject>
#include <QWidget>

#include <vector>

class QLabel;
class QListWidget;
class QMenu;
class QProgressBar;
class QPushButton;
class QUndoStack;

namespace brillm::viz {

class StudioDocument;

class ModelEdits : public QObject {
    Q_OBJECT
public:
    explicit ModelEdits(StudioDocument* doc, QObject* parent = nullptr);
    ~ModelEdits() override;

    QUndoStack* undoStack() const { return m_stack; }
    const std::vector<ModelEdit>& edits() const { return m_edits; }
    // The edits of the model the document shows (edits() may be ahead while a build runs).
    const std::vector<ModelEdit>& appliedEdits() const { return m_applied; }
    int count() const { return static_cast<int>(m_edits.size()); }
    // True while an edited model is being built (the document still shows the previous one).
    bool isBuilding() const { return m_builds.current() != 0; }
    const JobTracker& builds() const { return m_builds; }
    QString describe(const ModelEdit& edit) const;
    // Times of the last change: applyEdits() on the worker, and from the change until the
    // document's re-run completion was finished.
    double lastApplyMs() const { return m_lastApplyMs; }
    double lastEditToCompletionMs() const { return m_lastEditToCompletionMs; }

    // ---- undoable changes ----
    void add(const ModelEdit& edit);
    void knockoutEdge(int32_t source, int32_t target) { add({EditKind::KnockoutEdge, source, target, 1.0}); }
    void scaleEdge(int32_t source, int32_t target, double factor) {
        add({EditKind::ScaleEdge, source, target, factor});
    }
    void swapShared(int32_t source, int32_t target) { add({EditKind::SwapShared, source, target, 1.0}); }
    void zeroEdge(int32_t source, int32_t target) { add({EditKind::ZeroEdge, source, target, 1.0}); }
    void knockoutNode(int32_t node) { add({EditKind::KnockoutNode, node, -1, 1.0}); }
    void remove(int index);
    void setEdits(std::vector<ModelEdit> edits, const QString& text);
    void clear();

    // ---- patches ----
    // The current edits with the model's vocabulary size and names (and its checksum, when known).
    ModelPatch patch() const;
    // Both return an error message, empty on success. loadPatch replaces the edits (undoable)
    // after checking the vocabulary size and, unless force, the node names the patch recorded.
    QString savePatch(const QString& path) const;
    // namesDiffer: set when the only objection is the names (the caller may ask and force).
    QString loadPatch(const QString& path, bool force = false, bool* namesDiffer = nullptr);
    // The checksum of the open model file ("sha256:..." from its header; empty when unknown).
    const std::string& modelChecksum() const { return m_checksum; }
    // Writes applyEdits(original) to path on the worker: modelWritten or failed.
    void writePatchedModel(const QString& path);
    bool isWriting() const { return m_writes.current() != 0; }

    // Adds the edit actions for source -> target (target < 0: the node source) to menu.
    // dialogParent: for the "Scale edge…" input dialog.
    void fillMenu(QMenu* menu, int32_t source, int32_t target, QWidget* dialogParent);

Q_SIGNALS:
    void editsChanged(); // the list changed (the model follows once built)
    void editedModelReady(int count, double applyMs);
    void rerunFinished(double msSinceEdit);
    void failed(const QString& message);
    void modelWritten(const QString& path, double ms);
    void writeProgress(double fraction);

private:
    friend class EditsCommand;
    void applyList(const std::vector<ModelEdit>& edits); // from the undo commands
    void rebuild();
    void onModelChanged();

    StudioDocument* m_doc;
    QUndoStack* m_stack;
    AnalysisRunner* m_runner;
    std::vector<ModelEdit> m_edits;
    std::vector<ModelEdit> m_applied;
    StudioModelPtr m_original; // the edits belong to this model
    std::string m_checksum;
    JobTracker m_builds;
    JobTracker m_writes;
    QElapsedTimer m_editTimer;
    bool m_waitingRerun = false;
    double m_lastApplyMs = 0;
    double m_lastEditToCompletionMs = 0;
};

class EditsPanel : public QWidget {
    Q_OBJECT
public:
    EditsPanel(StudioDocument* doc, ModelEdits* edits, QWidget* parent = nullptr);
    QListWidget* list() const { return m_list; }
    QString stateText() const;

public Q_SLOTS:
    void savePatchDialog();
    void loadPatchDialog();
    void writePatchedModelDialog();

Q_SIGNALS:
    void message(const QString& text); // for the status bar

private:
    void refresh();
    void showMenu(int32_t source, int32_t target, const QPoint& globalPos);

    StudioDocument* m_doc;
    ModelEdits* m_edits;
    QLabel* m_state;
    QListWidget* m_list;
    QPushButton* m_remove;
    QPushButton* m_clear;
    QPushButton* m_save;
    QPushButton* m_write;
    QProgressBar* m_progress;
};

} // namespace brillm::viz
