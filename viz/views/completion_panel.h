// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// CompletionPanel: the prompt, the decoding options, the result as clickable tokens, and the
// candidates of the selected step (pick one to branch). Enter runs, Esc cancels.

#include "common/exportable_view.h"

#include <brillm/model/decode.h>

#include <QWidget>

#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTableView;
class QToolButton;

namespace brillm::viz {

class StudioDocument;
class CandidateTableModel;

// The tokens of the trace as chips that wrap like text; prompt, picked and generated tokens
// styled differently; the token of the selected step framed.
class TokenFlowWidget : public QWidget, public ExportableView {
    Q_OBJECT
public:
    explicit TokenFlowWidget(StudioDocument* doc, QWidget* parent = nullptr);
    bool hasHeightForWidth() const override { return true; }
    int heightForWidth(int width) const override;
    QSize sizeHint() const override;
    QSize minimumSizeHint() const override { return {120, 40}; }
    // Chip rectangle of token i (for tests), empty if none.
    QRect tokenRect(int token) const;

    QString exportName() const override { return QStringLiteral("completion"); }
    QSize exportSize() const override { return {std::max(width(), 400), heightForWidth(std::max(width(), 400))}; }
    void renderExport(QPainter& painter) override;

protected:
    void paintEvent(QPaintEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;

private:
    void relayout();
    int layoutFor(int width, std::vector<QRect>* rects) const;
    void paintTo(QPainter& p, const std::vector<QRect>& rects) const;
    int tokenAt(QPoint pos) const;

    StudioDocument* m_doc;
    std::vector<QRect> m_rects;
    int m_hover = -1;
};

class CompletionPanel : public QWidget {
    Q_OBJECT
public:
    explicit CompletionPanel(StudioDocument* doc, QWidget* parent = nullptr);

    DecodeOptions options() const;
    void setOptions(const DecodeOptions& options);
    // Special tokens ([PAD], [UNK], ...) are never chosen (options() bans them) when on; default on.
    bool skipSpecial() const;
    void setSkipSpecial(bool skip);
    QString prompt() const;
    void setPrompt(const QString& text);
    QLineEdit* promptEdit() const { return m_prompt; }
    TokenFlowWidget* tokenFlow() const { return m_flow; }
    // The prompt and its completion as plain text one can select and copy (the generated part in bold).
    QPlainTextEdit* textView() const { return m_text; }
    QString completionText() const;
    // The scoring device chooser ("auto", "cpu", "cuda" as item data); the GPU item is disabled
    // where this build or machine has no CUDA.
    QComboBox* deviceChooser() const { return m_device; }
    CandidateTableModel* candidateModel() const { return m_candidates; }
    int candidateCount() const;
    // The selected step's line (energy, p, rank; with banned tokens, their probability mass and
    // the rank among the allowed candidates) and the energy warning (empty when the trace is sane).
    QString stepInfoText() const;
    QString energyWarningText() const;

public Q_SLOTS:
    void run();
    void cancel();
    // Continue from the selected step with the candidate of the given row of the table.
    void branchWithRow(int row);

Q_SIGNALS:
    void optionsChanged();

private:
    void updateCandidates();
    void updateState();
    void updateModeWidgets();
    void updateText();
    void updateEnergyWarning();

    StudioDocument* m_doc;
    QLineEdit* m_prompt;
    QPushButton* m_run;
    QToolButton* m_back;
    QToolButton* m_forward;
    QComboBox* m_mode;
    QDoubleSpinBox* m_temperature;
    QSpinBox* m_topK;
    QDoubleSpinBox* m_topP;
    QSpinBox* m_seed;
    QSpinBox* m_maxTokens;
    QCheckBox* m_excludeSelf;
    QCheckBox* m_reference;
    QComboBox* m_device; // where candidates are scored: auto / CPU / GPU (kept in QSettings)
    QCheckBox* m_skipSpecial;
    QSpinBox* m_candidateCount;
    TokenFlowWidget* m_flow;
    QPlainTextEdit* m_text;
    QLabel* m_stepInfo;
    QLabel* m_energyWarning;
    QLabel* m_historyLabel;
    QTableView* m_table;
    CandidateTableModel* m_candidates;
    QPushButton* m_branch;
};

} // namespace brillm::viz
