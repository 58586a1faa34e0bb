// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// CompareView: two completions side by side, greedy unless the Completion panel's settings
// are chosen (the settings used are stated with the result) - (a) two prompts on the open model, (b) one
// prompt on the open model and on a second model file, (c) one prompt before and after the
// current edits. The first step where the continuations diverge is marked and explained: for
// (c) by the edits that lie on the compared paths and blame() of "why the new winner, not the
// old one" on the edited model; for (a) and (b) by the blame of each side at that step. The
// work (decoding both sides, blaming) runs on a worker; stale results are dropped.

#include "studio/analysis_worker.h"
#include "studio/job_tracker.h"

#include <QAbstractTableModel>
#include <QWidget>

class QComboBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableView;

namespace brillm::viz {

class StudioDocument;
class ModelEdits;
class ContributorTableModel;

// One row per generated position: the token each side took there, its probability and energy;
// the divergence row marked.
class ComparisonTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        Position,
        LeftToken,
        LeftProbability,
        LeftEnergy,
        RightToken,
        RightProbability,
        RightEnergy,
        ColumnCount
    };
    enum Role { DivergenceRole = Qt::UserRole + 1, SameRole };

    using QAbstractTableModel::QAbstractTableModel;
    void setResult(ComparePtr result);
    void clear();

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

private:
    const TraceStep* stepOf(bool right, int row) const;
    ComparePtr m_result;
    int m_rows = 0;
};

class CompareView : public QWidget {
    Q_OBJECT
public:
    CompareView(StudioDocument* doc, ModelEdits* edits, QWidget* parent = nullptr);

    void setMode(CompareMode mode);
    CompareMode mode() const;
    void setPrompts(const QString& left, const QString& right = {});
    QString leftPrompt() const;
    QString rightPrompt() const;
    void setMaxTokens(int n);
    // Greedy (the default) or the Completion panel's settings (sampling included).
    void setUseCompletionSettings(bool on);
    bool useCompletionSettings() const;
    // The second model of mode (b), loaded on the worker (secondModelReady / failed).
    void openSecondModel(const QString& path);
    void setSecondModel(StudioModelPtr model);
    const StudioModelPtr& secondModel() const { return m_second; }

    const ComparePtr& result() const { return m_result; }
    ComparisonTableModel* tableModel() const { return m_table; }
    ContributorTableModel* leftContributors() const { return m_leftBlame; }
    ContributorTableModel* rightContributors() const { return m_rightBlame; }
    QString explanationText() const;
    const JobTracker& jobs() const { return m_jobs; }

public Q_SLOTS:
    void run();
    void openSecondModelDialog();

Q_SIGNALS:
    void comparisonReady();
    void secondModelReady();
    void failed(const QString& message);

private:
    void onResult(quint64 job, ComparePtr result);
    void updateModeWidgets();
    QString sideText(const Trace& trace, const StudioModel& model, int64_t divergence) const;
    void fail(const QString& message);

    StudioDocument* m_doc;
    ModelEdits* m_edits;
    AnalysisRunner* m_runner;
    QComboBox* m_mode;
    QLineEdit* m_promptLeft;
    QLineEdit* m_promptRight;
    QLabel* m_promptRightLabel;
    QLabel* m_secondLabel;
    QPushButton* m_openSecond;
    QSpinBox* m_maxTokens;
    QComboBox* m_decoding;
    QComboBox* m_ablation;
    QPushButton* m_run;
    QLabel* m_leftTitle;
    QLabel* m_rightTitle;
    QLabel* m_leftText;
    QLabel* m_rightText;
    QTableView* m_view;
    ComparisonTableModel* m_table;
    QLabel* m_explanation;
    QLabel* m_leftBlameTitle;
    QLabel* m_rightBlameTitle;
    ContributorTableModel* m_leftBlame;
    ContributorTableModel* m_rightBlame;

    JobTracker m_jobs;
    JobTracker m_loads;
    StudioModelPtr m_second;
    ComparePtr m_result;
};

} // namespace brillm::viz
