// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// ErrorTracePanel: "why did the model not say what I expected?". The user gives a prompt and the
// continuation they expected; the panel forces that path (forcePath on a worker) and shows every
// step's expected rank, probability and margin against the winner, the first wrong step
// selected. For the selected step it asks blame() "why A, not B" (A the winner, B the expected
// token; both can be changed to any candidate) and lists the contributors by exact leave-one-out
// effect, next to the gradient estimate; the top ones are highlighted in the path and graph views
// (highlightsChanged). The forced path is also shown in the document, so every view follows the
// selected step. Results of replaced requests are dropped (JobTracker).

#include "studio/analysis_worker.h"
#include "studio/job_tracker.h"
#include "tracing/blame_highlight.h"

#include <QWidget>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableView;

namespace brillm::viz {

class StudioDocument;
class ForcedStepTableModel;
class ContributorTableModel;

class ErrorTracePanel : public QWidget {
    Q_OBJECT
public:
    explicit ErrorTracePanel(StudioDocument* doc, QWidget* parent = nullptr);

    void setPrompt(const QString& text);
    void setExpected(const QString& text);
    QString prompt() const;
    QString expected() const;
    // Show the forced path in the document (every view follows it). On by default.
    void setShowInViews(bool on);

    ForcedStepTableModel* stepModel() const { return m_steps; }
    ContributorTableModel* contributorModel() const { return m_contributors; }
    QTableView* stepTable() const { return m_stepTable; }
    QTableView* contributorTable() const { return m_contribTable; }
    const ForcedPathPtr& forcedPath() const { return m_forced; }
    const BlamePtr& blameResult() const { return m_blame; }
    int selectedStep() const { return m_step; }
    bool isBusy() const { return m_forcedJobs.current() != 0 || m_blameJobs.current() != 0; }
    const JobTracker& forcedJobs() const { return m_forcedJobs; }
    const JobTracker& blameJobs() const { return m_blameJobs; }
    QString tokensText() const;
    QString summaryText() const;
    int topCount() const;
    AblationMode ablationMode() const;
    void setAblationMode(AblationMode mode);

public Q_SLOTS:
    // Tokenises prompt and expected continuation and traces them (forcePath on the worker).
    void run();
    // Selects a step of the forced path and blames it: A = its winner, B = its expected token
    // (the runner-up when the expected token wins).
    void selectStep(int step);
    // Blames the selected step for the given pair.
    void blamePair(int32_t a, int32_t b);

Q_SIGNALS:
    void forcedPathReady();
    void blameReady();
    void failed(const QString& message);
    void highlightsChanged(const brillm::viz::EdgeHighlights& edges, const brillm::viz::PositionHighlights& positions);

private:
    void rerunForModel();
    void onForced(quint64 job, ForcedPathPtr result);
    void onBlame(quint64 job, BlamePtr result);
    void fillPickers();
    bool documentShowsBlamedPath() const;
    void clearHighlights();
    int32_t pickedNode(QComboBox* box) const;
    void startBlame();
    void emitHighlights();
    void updateTokens();
    void fail(const QString& message);

    StudioDocument* m_doc;
    AnalysisRunner* m_runner;
    QLineEdit* m_prompt;
    QLineEdit* m_expected;
    QPushButton* m_run;
    QCheckBox* m_showInViews;
    QLabel* m_tokens;
    QLabel* m_summary;
    QTableView* m_stepTable;
    ForcedStepTableModel* m_steps;
    QComboBox* m_a;
    QComboBox* m_b;
    QComboBox* m_mode;
    QSpinBox* m_top;
    QLabel* m_blameInfo;
    QTableView* m_contribTable;
    ContributorTableModel* m_contributors;

    JobTracker m_forcedJobs;
    JobTracker m_blameJobs;
    ForcedPathRequest m_request;
    ForcedPathPtr m_forced;
    BlamePtr m_blame;
    int m_step = -1;
    bool m_keepStep = false;        // after an edit: stay on the selected step
    bool m_syncing = false;         // guards the selection sync with the document
    bool m_showPending = false;     // put the forced path into the document when it arrives
    bool m_requestingTrace = false; // inside completeTokens() of the forced path
    bool m_docShowsForced = false;  // the document's completion in progress is the forced path
    bool m_highlightsShown = false; // the last highlightsChanged was not empty
    DecodeOptions m_showOptions;
    QString m_showDescription;
};

} // namespace brillm::viz
