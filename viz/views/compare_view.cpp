// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/compare_view.h"

#include "common/palette.h"
#include "studio/model_edits.h"
#include "studio/studio_document.h"
#include "tracing/error_trace_models.h"

#include <QBrush>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFont>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>
#include <utility>

namespace brillm::viz {

// ---------------------------------------------------------------- ComparisonTableModel

void ComparisonTableModel::setResult(ComparePtr result) {
    beginResetModel();
    m_result = std::move(result);
    m_rows = 0;
    if (m_result)
        m_rows = static_cast<int>(
            std::max(m_result->left.tokens.size() - static_cast<size_t>(m_result->left.promptTokens),
                     m_result->right.tokens.size() - static_cast<size_t>(m_result->right.promptTokens)));
    endResetModel();
}

void ComparisonTableModel::clear() {
    setResult(nullptr);
}

int ComparisonTableModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : m_rows;
}
int ComparisonTableModel::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : ColumnCount;
}

const TraceStep* ComparisonTableModel::stepOf(bool right, int row) const {
    const Trace& t = right ? m_result->right : m_result->left;
    const auto i = static_cast<size_t>(t.promptTokens - 1 + row);
    return i < t.steps.size() ? &t.steps[i] : nullptr;
}

QVariant ComparisonTableModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid) || !m_result) return {};
    const int row = index.row();
    const bool right = index.column() >= RightToken;
    const TraceStep* s = index.column() == Position ? nullptr : stepOf(right, row);
    const StudioModel& model = right ? *m_result->request.right : *m_result->request.left;
    const bool diverge = row == m_result->divergence;
    const bool after = m_result->divergence >= 0 && row > m_result->divergence;
    switch (role) {
    case Qt::DisplayRole:
        if (index.column() == Position) return row;
        if (!s) return QString();
        switch (index.column()) {
        case LeftToken:
        case RightToken:
            return model.label(s->target);
        case LeftProbability:
        case RightProbability:
            return QString::number(s->probability, 'g', 4);
        case LeftEnergy:
        case RightEnergy:
            return QString::number(s->energy, 'f', 4);
        }
        break;
    case Qt::BackgroundRole:
        if (diverge) return QBrush(divergingColor(0.6, isDarkPalette()));
        break;
    case Qt::ForegroundRole:
        if (after) return QBrush(ViewColors::current().mutedText);
        break;
    case Qt::FontRole:
        if (diverge) {
            QFont f;
            f.setBold(true);
            return f;
        }
        break;
    case Qt::TextAlignmentRole:
        return index.column() == LeftToken || index.column() == RightToken
                   ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                   : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    case DivergenceRole:
        return diverge;
    case SameRole:
        return m_result->divergence < 0 || row < m_result->divergence;
    default:
        break;
    }
    return {};
}

QVariant ComparisonTableModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (role != Qt::DisplayRole) return {};
    if (orientation == Qt::Vertical) return section;
    static const char* names[] = {"new token", "left", "p", "energy", "right", "p", "energy"};
    return section >= 0 && section < ColumnCount ? QString::fromLatin1(names[section]) : QVariant();
}

// ---------------------------------------------------------------- CompareView

namespace {
QTableView* contributorTable(ContributorTableModel* model) {
    auto* t = new QTableView;
    t->setModel(model);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->verticalHeader()->hide();
    t->verticalHeader()->setDefaultSectionSize(t->fontMetrics().height() + 6);
    t->horizontalHeader()->setStretchLastSection(false);
    t->horizontalHeader()->setSectionResizeMode(ContributorTableModel::Kind, QHeaderView::ResizeToContents);
    t->horizontalHeader()->setSectionResizeMode(ContributorTableModel::What, QHeaderView::Stretch);
    t->setItemDelegateForColumn(ContributorTableModel::Effect, new EffectBarDelegate(t));
    t->setColumnWidth(ContributorTableModel::Effect, 130);
    t->setContextMenuPolicy(Qt::CustomContextMenu);
    return t;
}
} // namespace

CompareView::CompareView(StudioDocument* doc, ModelEdits* edits, QWidget* parent)
    : QWidget(parent), m_doc(doc), m_edits(edits),
      m_runner(new AnalysisRunner(QStringLiteral("brillm-compare"), this)) {
    m_mode = new QComboBox;
    m_mode->addItem(tr("two prompts"), static_cast<int>(CompareMode::TwoPrompts));
    m_mode->addItem(tr("two models"), static_cast<int>(CompareMode::TwoModels));
    m_mode->addItem(tr("before / after edits"), static_cast<int>(CompareMode::BeforeAfterEdits));
    m_promptLeft = new QLineEdit;
    m_promptLeft->setPlaceholderText(tr("prompt"));
    m_promptRight = new QLineEdit;
    m_promptRight->setPlaceholderText(tr("second prompt"));
    m_promptRightLabel = new QLabel(tr("vs"));
    m_secondLabel = new QLabel(tr("no second model"));
    m_openSecond = new QPushButton(tr("Open second model…"));
    m_maxTokens = new QSpinBox;
    m_maxTokens->setRange(1, 500);
    m_maxTokens->setValue(24);
    m_maxTokens->setPrefix(tr("tokens "));
    m_decoding = new QComboBox;
    m_decoding->setObjectName(QStringLiteral("compare.decoding"));
    m_decoding->addItem(tr("greedy"), false);
    m_decoding->addItem(tr("Completion panel's settings"), true);
    m_decoding->setToolTip(tr("How both sides decode: greedy (so a difference is the edit's, not sampling's), or the "
                              "Completion panel's settings, sampling included"));
    m_ablation = new QComboBox;
    m_ablation->addItem(tr("ablate: shared"), static_cast<int>(AblationMode::Shared));
    m_ablation->addItem(tr("ablate: zero"), static_cast<int>(AblationMode::Zero));
    m_run = new QPushButton(tr("Compare"));
    m_run->setObjectName(QStringLiteral("compare.run"));
    m_leftTitle = new QLabel;
    m_rightTitle = new QLabel;
    m_leftText = new QLabel;
    m_rightText = new QLabel;
    for (auto* l : {m_leftTitle, m_rightTitle, m_leftText, m_rightText}) {
        l->setTextFormat(Qt::RichText);
        l->setWordWrap(true);
    }
    m_table = new ComparisonTableModel(this);
    m_view = new QTableView;
    m_view->setModel(m_table);
    m_view->verticalHeader()->hide();
    m_view->verticalHeader()->setDefaultSectionSize(m_view->fontMetrics().height() + 6);
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_explanation = new QLabel;
    m_explanation->setTextFormat(Qt::RichText);
    m_explanation->setWordWrap(true);
    m_leftBlameTitle = new QLabel;
    m_rightBlameTitle = new QLabel;
    m_leftBlameTitle->setTextFormat(Qt::RichText);
    m_rightBlameTitle->setTextFormat(Qt::RichText);
    m_leftBlame = new ContributorTableModel(this);
    m_rightBlame = new ContributorTableModel(this);
    auto* leftTable = contributorTable(m_leftBlame);
    auto* rightTable = contributorTable(m_rightBlame);
    // A side without a report (before the edits, or no divergence) gives its room to the other.
    connect(m_leftBlame, &QAbstractItemModel::modelReset, leftTable,
            [this, leftTable] { leftTable->parentWidget()->setVisible(m_leftBlame->rowCount() > 0); });
    connect(m_rightBlame, &QAbstractItemModel::modelReset, rightTable,
            [this, rightTable] { rightTable->parentWidget()->setVisible(m_rightBlame->rowCount() > 0); });

    auto* bar = new QHBoxLayout;
    bar->addWidget(m_mode);
    bar->addWidget(m_maxTokens);
    bar->addWidget(m_decoding);
    bar->addWidget(m_ablation);
    bar->addStretch(1);
    bar->addWidget(m_run);
    auto* inputs = new QHBoxLayout;
    inputs->addWidget(m_promptLeft, 2);
    inputs->addWidget(m_promptRightLabel);
    inputs->addWidget(m_promptRight, 2);
    inputs->addWidget(m_secondLabel, 1);
    inputs->addWidget(m_openSecond);
    m_secondLabel->setMinimumWidth(40);

    auto* top = new QWidget;
    auto* grid = new QGridLayout(top);
    grid->setContentsMargins(0, 0, 0, 0);
    grid->addWidget(m_leftTitle, 0, 0);
    grid->addWidget(m_rightTitle, 0, 1);
    grid->addWidget(m_leftText, 1, 0);
    grid->addWidget(m_rightText, 1, 1);
    grid->addWidget(m_view, 2, 0, 1, 2);
    grid->setRowStretch(2, 1);
    auto* bottom = new QWidget;
    auto* bl = new QVBoxLayout(bottom);
    bl->setContentsMargins(0, 0, 0, 0);
    bl->addWidget(m_explanation);
    auto* sides = new QSplitter(Qt::Horizontal);
    for (auto [title, table] : {std::pair{m_leftBlameTitle, leftTable}, std::pair{m_rightBlameTitle, rightTable}}) {
        title->setWordWrap(true);
        auto* box = new QWidget;
        auto* v = new QVBoxLayout(box);
        v->setContentsMargins(0, 0, 0, 0);
        v->addWidget(title);
        v->addWidget(table, 1);
        sides->addWidget(box);
    }
    bl->addWidget(sides, 1);
    auto* split = new QSplitter(Qt::Vertical);
    split->addWidget(top);
    split->addWidget(bottom);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(bar);
    layout->addLayout(inputs);
    layout->addWidget(split, 1);

    auto* w = m_runner->worker();
    connect(w, &AnalysisWorker::comparisonAvailable, this, &CompareView::onResult);
    connect(w, &AnalysisWorker::modelAvailable, this, [this](quint64 job, StudioModelPtr model) {
        if (!m_loads.accept(job)) return;
        m_loads.invalidate();
        setSecondModel(std::move(model));
    });
    connect(w, &AnalysisWorker::failed, this, [this](quint64 job, int task, const QString& message) {
        JobTracker& t = task == AnalysisWorker::LoadTask ? m_loads : m_jobs;
        if (!t.accept(job)) return;
        t.invalidate();
        fail(task == AnalysisWorker::LoadTask ? tr("Cannot open the second model: %1").arg(message) : message);
    });
    connect(m_mode, &QComboBox::currentIndexChanged, this, &CompareView::updateModeWidgets);
    connect(m_run, &QPushButton::clicked, this, &CompareView::run);
    connect(m_promptLeft, &QLineEdit::returnPressed, this, &CompareView::run);
    connect(m_promptRight, &QLineEdit::returnPressed, this, &CompareView::run);
    connect(m_openSecond, &QPushButton::clicked, this, &CompareView::openSecondModelDialog);
    for (auto* t : {leftTable, rightTable}) {
        connect(t, &QTableView::clicked, this, [this](const QModelIndex& i) {
            const int s = i.data(ContributorTableModel::SourceRole).toInt(),
                      tt = i.data(ContributorTableModel::TargetRole).toInt();
            if (s >= 0 && tt >= 0) m_doc->inspectEdge(s, tt);
        });
        connect(t, &QWidget::customContextMenuRequested, this, [this, t](const QPoint& pos) {
            const QModelIndex i = t->indexAt(pos);
            const int s = i.data(ContributorTableModel::SourceRole).toInt(),
                      tt = i.data(ContributorTableModel::TargetRole).toInt();
            if (i.isValid() && s >= 0 && tt >= 0) m_doc->requestEditMenu(s, tt, t->viewport()->mapToGlobal(pos));
        });
    }
    // Before / after edits follows the edits as they are made.
    connect(doc, &StudioDocument::modelEdited, this, [this] {
        if (m_result && mode() == CompareMode::BeforeAfterEdits) run();
    });
    connect(doc, &StudioDocument::modelChanged, this, [this] {
        m_jobs.invalidate();
        m_result.reset();
        m_table->clear();
        m_leftBlame->clear();
        m_rightBlame->clear();
        m_explanation->clear();
    });
    updateModeWidgets();
}

CompareMode CompareView::mode() const {
    return static_cast<CompareMode>(m_mode->currentData().toInt());
}
void CompareView::setMode(CompareMode mode) {
    m_mode->setCurrentIndex(m_mode->findData(static_cast<int>(mode)));
}
void CompareView::setPrompts(const QString& left, const QString& right) {
    m_promptLeft->setText(left);
    m_promptRight->setText(right);
}
QString CompareView::leftPrompt() const {
    return m_promptLeft->text();
}
QString CompareView::rightPrompt() const {
    return m_promptRight->text();
}
void CompareView::setMaxTokens(int n) {
    m_maxTokens->setValue(n);
}
void CompareView::setUseCompletionSettings(bool on) {
    m_decoding->setCurrentIndex(on ? 1 : 0);
}
bool CompareView::useCompletionSettings() const {
    return m_decoding->currentData().toBool();
}
QString CompareView::explanationText() const {
    return m_explanation->text();
}

void CompareView::updateModeWidgets() {
    const CompareMode m = mode();
    m_promptRight->setVisible(m == CompareMode::TwoPrompts);
    m_promptRightLabel->setVisible(m == CompareMode::TwoPrompts);
    m_secondLabel->setVisible(m == CompareMode::TwoModels);
    m_openSecond->setVisible(m == CompareMode::TwoModels);
}

void CompareView::fail(const QString& message) {
    m_explanation->setText(QStringLiteral("<span style='color:#c33'>%1</span>").arg(message.toHtmlEscaped()));
    Q_EMIT failed(message);
}

void CompareView::openSecondModelDialog() {
    const QString dir = QSettings().value(QStringLiteral("lastDir")).toString();
    const QString path = QFileDialog::getOpenFileName(this, tr("Open the second model"), dir,
                                                      tr("BriLLM models (*.brillm *.safetensors);;All files (*)"));
    if (!path.isEmpty()) openSecondModel(path);
}

void CompareView::openSecondModel(const QString& path) {
    const quint64 job = m_loads.start();
    m_secondLabel->setText(tr("loading %1…").arg(QFileInfo(path).fileName()));
    m_runner->post([w = m_runner->worker(), job, path] { w->loadModel(job, path); });
}

void CompareView::setSecondModel(StudioModelPtr model) {
    m_second = std::move(model);
    m_secondLabel->setText(m_second ? QFileInfo(m_second->path).fileName() : tr("no second model"));
    if (m_second) m_secondLabel->setToolTip(m_second->path + QStringLiteral("\n") + m_second->summary());
    Q_EMIT secondModelReady();
}

void CompareView::run() {
    if (!m_doc->hasModel()) {
        fail(tr("No model is open. Open a model file first (Ctrl+O)."));
        return;
    }
    CompareRequest req;
    req.mode = mode();
    req.options = m_doc->lastOptions();
    // Greedy unless told otherwise: a sampled token must not pass for an edit's effect. The
    // banned tokens, self-loops and position convention stay the Completion panel's.
    if (!useCompletionSettings()) req.options.greedy = true;
    req.options.maxNewTokens = m_maxTokens->value();
    req.ablation = static_cast<AblationMode>(m_ablation->currentData().toInt());
    switch (req.mode) {
    case CompareMode::TwoPrompts:
        req.left = req.right = m_doc->model();
        break;
    case CompareMode::TwoModels:
        if (!m_second) {
            fail(tr("Open a second model first."));
            return;
        }
        req.left = m_doc->model();
        req.right = m_second;
        break;
    case CompareMode::BeforeAfterEdits:
        req.left = m_doc->originalModel();
        req.right = m_doc->model();
        req.edits = m_edits ? m_edits->appliedEdits() : std::vector<ModelEdit>{};
        break;
    }
    const QString right = req.mode == CompareMode::TwoPrompts ? m_promptRight->text() : m_promptLeft->text();
    try {
        req.promptLeft = req.left->encode(m_promptLeft->text());
        req.promptRight = req.right->encode(right);
    } catch (const std::exception& e) {
        fail(tr("The model cannot take this prompt: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    if (req.promptLeft.empty() || req.promptRight.empty()) {
        fail(tr("The prompt is empty: type at least one token."));
        return;
    }
    const quint64 job = m_jobs.start();
    m_explanation->setText(tr("<i>comparing…</i>"));
    m_runner->post([w = m_runner->worker(), job, req] { w->compare(job, req); });
}

QString CompareView::sideText(const Trace& trace, const StudioModel& model, int64_t divergence) const {
    QString html = QStringLiteral("<span style='color:#2360be'>");
    for (int64_t i = 0; i < static_cast<int64_t>(trace.tokens.size()); ++i) {
        const int64_t g = i - trace.promptTokens;
        if (g == 0) html += QStringLiteral("</span>");
        const QString t = model.text(trace.tokens[static_cast<size_t>(i)]).toHtmlEscaped();
        if (g >= 0 && g == divergence)
            html += QStringLiteral("<span style='background:#f4b183'><b>%1</b></span>").arg(t);
        else if (g > divergence && divergence >= 0)
            html += QStringLiteral("<span style='color:gray'>%1</span>").arg(t);
        else
            html += t;
    }
    if (trace.promptTokens >= static_cast<int64_t>(trace.tokens.size())) html += QStringLiteral("</span>");
    return html;
}

void CompareView::onResult(quint64 job, ComparePtr result) {
    if (!m_jobs.accept(job)) return;
    m_jobs.invalidate();
    m_result = std::move(result);
    const auto& r = *m_result;
    const auto& L = *r.request.left;
    const auto& R = *r.request.right;
    m_table->setResult(m_result);
    switch (r.request.mode) {
    case CompareMode::TwoPrompts:
        m_leftTitle->setText(tr("<b>Prompt A</b>"));
        m_rightTitle->setText(tr("<b>Prompt B</b>"));
        break;
    case CompareMode::TwoModels:
        m_leftTitle->setText(tr("<b>%1</b>").arg(QFileInfo(L.path).fileName().toHtmlEscaped()));
        m_rightTitle->setText(tr("<b>%1</b>").arg(QFileInfo(R.path).fileName().toHtmlEscaped()));
        break;
    case CompareMode::BeforeAfterEdits:
        m_leftTitle->setText(tr("<b>Before the edits</b>"));
        m_rightTitle->setText(
            tr("<b>After %1 edit%2</b>").arg(r.request.edits.size()).arg(r.request.edits.size() == 1 ? "" : "s"));
        break;
    }
    m_leftText->setText(sideText(r.left, L, r.divergence));
    m_rightText->setText(sideText(r.right, R, r.divergence));
    if (r.divergence >= 0) m_view->scrollTo(m_table->index(static_cast<int>(r.divergence), 0));

    QString ex;
    if (r.divergence < 0) {
        ex += tr("<b>The continuations agree</b> over %1 new tokens.")
                  .arg(std::min(r.left.generated().size(), r.right.generated().size()));
    } else {
        const int32_t lt = r.left.tokens[static_cast<size_t>(r.leftStep + 1)],
                      rt = r.right.tokens[static_cast<size_t>(r.rightStep + 1)];
        ex += tr("<b>They diverge at new token %1</b> (step %2 left, %3 right): <b>%4</b> vs <b>%5</b>.")
                  .arg(r.divergence)
                  .arg(r.leftStep)
                  .arg(r.rightStep)
                  .arg(L.label(lt).toHtmlEscaped(), R.label(rt).toHtmlEscaped());
    }
    if (r.request.mode == CompareMode::BeforeAfterEdits) {
        if (r.request.edits.empty())
            ex += tr("<br>There are no edits: both sides run the model as opened.");
        else if (r.relevantEdits.empty())
            ex += tr("<br>No edit touches an edge of the compared paths up to the divergence: the change comes through "
                     "the mixing of earlier signals or through the competing candidates.");
        else {
            ex += tr("<br>Edits on the compared paths:");
            for (int i : r.relevantEdits)
                ex += QStringLiteral("<br>&nbsp;• ") +
                      (m_edits ? m_edits->describe(r.request.edits[static_cast<size_t>(i)])
                               : QString::fromStdString(r.request.edits[static_cast<size_t>(i)].describe()))
                          .toHtmlEscaped();
        }
    }
    if (r.divergence >= 0 && r.request.mode != CompareMode::BeforeAfterEdits) {
        if (!r.leftBlame) ex += tr("<br>Left: %1").arg(r.leftBlameNote.toHtmlEscaped());
        if (!r.rightBlame) ex += tr("<br>Right: %1").arg(r.rightBlameNote.toHtmlEscaped());
    }
    ex += tr(" <i>(%1 ms)</i>").arg(r.ms, 0, 'f', 0);
    // Which settings both sides used: a sampled token must not pass for an edit's effect.
    ex += tr("<br>Decoding: %1%2")
              .arg(decodingSummary(r.request.options).toHtmlEscaped(),
                   r.request.options.greedy ? QString() : tr(" <b>(sampling: a difference may be chance)</b>"));
    m_explanation->setText(ex);

    auto showBlame = [](ContributorTableModel* model, QLabel* title, const std::optional<BlameReport>& b,
                        const StudioModelPtr& sm, const QString& side, const QString& note) {
        if (b) {
            model->setReport(sm, *b);
            title->setText(tr("%1: why <b>%2</b>, not <b>%3</b> (margin %4)")
                               .arg(side, sm->label(b->query.a).toHtmlEscaped(), sm->label(b->query.b).toHtmlEscaped())
                               .arg(b->margin, 0, 'f', 4));
        } else {
            model->clear();
            title->setText(note.isEmpty() ? QString()
                                          : QStringLiteral("%1: <i>%2</i>").arg(side, note.toHtmlEscaped()));
        }
    };
    showBlame(m_leftBlame, m_leftBlameTitle, r.leftBlame, r.request.left, tr("Left"), QString());
    showBlame(m_rightBlame, m_rightBlameTitle, r.rightBlame, r.request.right, tr("Right"), QString());
    Q_EMIT comparisonReady();
}

} // namespace brillm::viz
