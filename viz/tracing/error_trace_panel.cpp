// SPDX-License-Identifier: GPL-3.0-or-later
#include "tracing/error_trace_panel.h"

#include "studio/studio_document.h"
#include "tracing/error_trace_models.h"
#include "tracing/trace_models.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <cmath>

namespace brillm::viz {

namespace {
constexpr int kPickerCandidates = 30;

QTableView* makeTable(QAbstractItemModel* model) {
    auto* t = new QTableView;
    t->setModel(model);
    t->setSelectionBehavior(QAbstractItemView::SelectRows);
    t->setSelectionMode(QAbstractItemView::SingleSelection);
    t->verticalHeader()->hide();
    t->verticalHeader()->setDefaultSectionSize(t->fontMetrics().height() + 6);
    t->horizontalHeader()->setStretchLastSection(true);
    t->setAlternatingRowColors(true);
    return t;
}
} // namespace

ErrorTracePanel::ErrorTracePanel(StudioDocument* doc, QWidget* parent)
    : QWidget(parent), m_doc(doc), m_runner(new AnalysisRunner(QStringLiteral("brillm-trace"), this)) {
    m_prompt = new QLineEdit;
    m_prompt->setPlaceholderText(tr("prompt"));
    m_expected = new QLineEdit;
    m_expected->setPlaceholderText(tr("the continuation you expected"));
    m_run = new QPushButton(tr("Trace"));
    m_prompt->setObjectName(QStringLiteral("trace.prompt"));
    m_expected->setObjectName(QStringLiteral("trace.expected"));
    m_run->setObjectName(QStringLiteral("trace.run"));
    m_run->setToolTip(tr("Force the expected continuation and score every step (Enter)"));
    m_showInViews = new QCheckBox(tr("show in the views"));
    m_showInViews->setChecked(true);
    m_showInViews->setToolTip(tr("Make the forced path the document's trace, so every view follows the selected step"));
    m_tokens = new QLabel;
    m_tokens->setTextFormat(Qt::RichText);
    m_tokens->setWordWrap(true);
    m_summary = new QLabel;
    m_summary->setTextFormat(Qt::RichText);
    m_summary->setWordWrap(true);
    m_steps = new ForcedStepTableModel(this);
    m_stepTable = makeTable(m_steps);

    m_a = new QComboBox;
    m_b = new QComboBox;
    for (auto* box : {m_a, m_b}) {
        box->setEditable(true);
        box->setInsertPolicy(QComboBox::NoInsert);
        box->setMinimumContentsLength(14);
        box->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    }
    m_a->setToolTip(tr("A: the preferred candidate (default: the winner); pick or type any token"));
    m_b->setToolTip(tr("B: the other candidate (default: the expected token); pick or type any token"));
    m_mode = new QComboBox;
    m_mode->addItem(tr("ablate: shared matrix"), static_cast<int>(AblationMode::Shared));
    m_mode->addItem(tr("ablate: zero"), static_cast<int>(AblationMode::Zero));
    m_mode->setToolTip(tr("Leave-one-out replaces an edge by the shared slot's matrix and bias, or by zeros"));
    m_top = new QSpinBox;
    m_top->setRange(0, 50);
    m_top->setValue(5);
    m_top->setPrefix(tr("highlight top "));
    m_top->setToolTip(tr("Contributors highlighted in the signal path and the token graph"));
    m_blameInfo = new QLabel;
    m_blameInfo->setTextFormat(Qt::RichText);
    m_blameInfo->setWordWrap(true);
    m_contributors = new ContributorTableModel(this);
    m_contribTable = makeTable(m_contributors);
    m_contribTable->setItemDelegateForColumn(ContributorTableModel::Effect, new EffectBarDelegate(m_contribTable));
    m_contribTable->horizontalHeader()->setStretchLastSection(false);
    m_contribTable->horizontalHeader()->setSectionResizeMode(ContributorTableModel::Kind,
                                                             QHeaderView::ResizeToContents);
    m_contribTable->horizontalHeader()->setSectionResizeMode(ContributorTableModel::What, QHeaderView::Stretch);
    m_contribTable->setColumnWidth(ContributorTableModel::Effect, 150);
    m_stepTable->horizontalHeader()->setStretchLastSection(false);
    m_stepTable->horizontalHeader()->setSectionResizeMode(ForcedStepTableModel::Edge, QHeaderView::Stretch);
    m_contribTable->setContextMenuPolicy(Qt::CustomContextMenu);

    auto* inputs = new QFormLayout;
    auto* promptRow = new QHBoxLayout;
    promptRow->addWidget(m_prompt, 1);
    promptRow->addWidget(m_showInViews);
    auto* expectedRow = new QHBoxLayout;
    expectedRow->addWidget(m_expected, 1);
    expectedRow->addWidget(m_run);
    inputs->addRow(tr("Prompt"), promptRow);
    inputs->addRow(tr("Expected"), expectedRow);
    inputs->addRow(tr("Tokens"), m_tokens);

    auto* top = new QWidget;
    auto* topLayout = new QVBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addLayout(inputs);
    topLayout->addWidget(m_summary);
    topLayout->addWidget(m_stepTable, 1);

    auto* bottom = new QWidget;
    auto* pick = new QHBoxLayout;
    pick->addWidget(new QLabel(tr("Why")));
    pick->addWidget(m_a, 1);
    pick->addWidget(new QLabel(tr("not")));
    pick->addWidget(m_b, 1);
    auto* pick2 = new QHBoxLayout; // a second row keeps the panel narrow enough for a laptop screen
    pick2->addWidget(m_mode);
    pick2->addWidget(m_top);
    pick2->addStretch(1);
    auto* bottomLayout = new QVBoxLayout(bottom);
    bottomLayout->setContentsMargins(0, 0, 0, 0);
    bottomLayout->addLayout(pick);
    bottomLayout->addLayout(pick2);
    bottomLayout->addWidget(m_blameInfo);
    bottomLayout->addWidget(m_contribTable, 1);

    auto* split = new QSplitter(Qt::Vertical);
    split->addWidget(top);
    split->addWidget(bottom);
    // The contributors get the larger share: they are what one reads; the step table scrolls.
    split->setStretchFactor(0, 2);
    split->setStretchFactor(1, 3);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(split);

    auto* w = m_runner->worker();
    connect(w, &AnalysisWorker::forcedPathAvailable, this, &ErrorTracePanel::onForced);
    connect(w, &AnalysisWorker::blameAvailable, this, &ErrorTracePanel::onBlame);
    connect(w, &AnalysisWorker::failed, this, [this](quint64 job, int task, const QString& message) {
        JobTracker& t = task == AnalysisWorker::ForcedPathTask ? m_forcedJobs : m_blameJobs;
        if (!t.accept(job)) return;
        t.invalidate();
        if (task == AnalysisWorker::ForcedPathTask) m_showPending = false;
        fail(message);
    });

    connect(m_run, &QPushButton::clicked, this, &ErrorTracePanel::run);
    connect(m_prompt, &QLineEdit::returnPressed, this, &ErrorTracePanel::run);
    connect(m_expected, &QLineEdit::returnPressed, this, &ErrorTracePanel::run);
    connect(m_prompt, &QLineEdit::textChanged, this, &ErrorTracePanel::updateTokens);
    connect(m_expected, &QLineEdit::textChanged, this, &ErrorTracePanel::updateTokens);
    connect(m_stepTable->selectionModel(), &QItemSelectionModel::currentRowChanged, this, [this](const QModelIndex& i) {
        if (!m_syncing && i.isValid() && i.row() != m_step) selectStep(i.row());
    });
    for (auto* box : {m_a, m_b}) {
        connect(box, &QComboBox::activated, this, [this] { startBlame(); });
        connect(box->lineEdit(), &QLineEdit::returnPressed, this, [this] { startBlame(); });
    }
    connect(m_mode, &QComboBox::activated, this, [this] { startBlame(); });
    connect(m_top, &QSpinBox::valueChanged, this, &ErrorTracePanel::emitHighlights);
    connect(m_contribTable, &QTableView::clicked, this, [this](const QModelIndex& i) {
        const int s = i.data(ContributorTableModel::SourceRole).toInt(),
                  t = i.data(ContributorTableModel::TargetRole).toInt();
        if (s >= 0 && t >= 0) m_doc->inspectEdge(s, t);
    });
    connect(m_contribTable, &QWidget::customContextMenuRequested, this, [this](const QPoint& pos) {
        const QModelIndex i = m_contribTable->indexAt(pos);
        const int s = i.data(ContributorTableModel::SourceRole).toInt(),
                  t = i.data(ContributorTableModel::TargetRole).toInt();
        if (i.isValid() && s >= 0 && t >= 0) m_doc->requestEditMenu(s, t, m_contribTable->viewport()->mapToGlobal(pos));
    });

    connect(doc, &StudioDocument::modelChanged, this, [this] {
        // A model that was opened (edits arrive through modelEdited): start over.
        m_forcedJobs.invalidate();
        m_blameJobs.invalidate();
        m_forced.reset();
        m_blame.reset();
        m_step = -1;
        m_steps->clear();
        m_contributors->clear();
        m_a->clear();
        m_b->clear();
        m_summary->clear();
        m_blameInfo->clear();
        updateTokens();
        emitHighlights();
    });
    connect(doc, &StudioDocument::modelEdited, this, &ErrorTracePanel::rerunForModel);
    // Highlights belong to the blamed path: a later, unrelated completion clears them; the
    // forced path shown again (a branch back, an edit's rerun) brings them back.
    connect(doc, &StudioDocument::traceReset, this, [this] {
        if (m_doc->isGenerating()) {
            // A new completion: the forced path when this panel asked for it, else unrelated.
            m_docShowsForced = m_requestingTrace;
            if (!m_docShowsForced && m_highlightsShown) clearHighlights();
        } else {
            emitHighlights(); // a branch from the history, or a theme change
        }
    });
    connect(doc, &StudioDocument::traceFinished, this, [this] {
        emitHighlights();
        // The document shows the forced path: keep the step this panel selected.
        if (m_step < 0 || !m_forced || m_doc->isGenerating()) return;
        if (m_doc->trace().tokens == m_forced->tokens() && m_doc->selectedStep() != m_step) {
            m_syncing = true;
            m_doc->selectStep(m_step);
            m_syncing = false;
        }
    });
    connect(doc, &StudioDocument::selectionChanged, this, [this](int step) {
        // A step picked in any view blames that step, when the views show the forced path.
        if (m_syncing || !m_forced || m_doc->isGenerating() || step < 0 || step == m_step) return;
        if (step < m_steps->rowCount() && m_doc->trace().tokens == m_forced->tokens()) selectStep(step);
    });
    updateTokens();
}

void ErrorTracePanel::setPrompt(const QString& text) {
    m_prompt->setText(text);
}
void ErrorTracePanel::setExpected(const QString& text) {
    m_expected->setText(text);
}
QString ErrorTracePanel::prompt() const {
    return m_prompt->text();
}
QString ErrorTracePanel::expected() const {
    return m_expected->text();
}
void ErrorTracePanel::setShowInViews(bool on) {
    m_showInViews->setChecked(on);
}
QString ErrorTracePanel::tokensText() const {
    return m_tokens->text();
}
QString ErrorTracePanel::summaryText() const {
    return m_summary->text();
}
int ErrorTracePanel::topCount() const {
    return m_top->value();
}
AblationMode ErrorTracePanel::ablationMode() const {
    return static_cast<AblationMode>(m_mode->currentData().toInt());
}

void ErrorTracePanel::setAblationMode(AblationMode mode) {
    m_mode->setCurrentIndex(m_mode->findData(static_cast<int>(mode)));
    startBlame();
}

void ErrorTracePanel::fail(const QString& message) {
    m_summary->setText(QStringLiteral("<span style='color:#c33'>%1</span>").arg(message.toHtmlEscaped()));
    Q_EMIT failed(message);
}

void ErrorTracePanel::updateTokens() {
    if (!m_doc->hasModel()) {
        m_tokens->setText(tr("<i>open a model first</i>"));
        return;
    }
    const auto& m = *m_doc->model();
    auto chips = [&](const std::vector<int32_t>& nodes, const char* color) {
        QString html;
        for (int32_t n : nodes)
            html += QStringLiteral("<span style='background:%1'>&nbsp;%2&nbsp;</span> ")
                        .arg(QLatin1String(color), m.label(n).toHtmlEscaped());
        return html;
    };
    try {
        // The tokens the trace will use: the continuation tokenised together with the prompt.
        const ContinuationTokens c = m.encodeContinuation(m_prompt->text(), m_expected->text());
        QString html = chips(c.prompt, "#cfe0f7") + QStringLiteral(" ⟶ ") + chips(c.expected, "#d2efd9");
        if (!c.joint)
            html += tr("<br><i>the prompt's last token merges with the continuation: the continuation is tokenised on "
                       "its own</i>");
        m_tokens->setText(html);
    } catch (const std::exception& e) {
        m_tokens->setText(
            QStringLiteral("<span style='color:#c33'>%1</span>").arg(QString::fromStdString(e.what()).toHtmlEscaped()));
    }
}

void ErrorTracePanel::run() {
    if (!m_doc->hasModel()) {
        fail(tr("No model is open. Open a model file first (Ctrl+O)."));
        return;
    }
    ForcedPathRequest req;
    try {
        // One function with `brillm blame`: the same path, the same numbers.
        auto c = m_doc->model()->encodeContinuation(m_prompt->text(), m_expected->text());
        req.prompt = std::move(c.prompt);
        req.expected = std::move(c.expected);
    } catch (const std::exception& e) {
        fail(tr("The model cannot take this text: %1").arg(QString::fromStdString(e.what())));
        return;
    }
    if (req.prompt.empty()) {
        fail(tr("The prompt is empty: type at least one token."));
        return;
    }
    const DecodeOptions& last = m_doc->lastOptions();
    req.excludeSelfLoop = last.excludeSelfLoop;
    req.banned = last.bannedTokens;
    req.convention = last.referenceDecode ? PositionConvention::Reference : PositionConvention::Training;
    m_request = req;
    m_keepStep = false;
    m_blameJobs.invalidate();
    const quint64 job = m_forcedJobs.start();
    m_summary->setText(tr("<i>tracing…</i>"));
    m_runner->post([w = m_runner->worker(), job, model = m_doc->model(), req] { w->forcePath(job, model, req); });
    // The views follow once the path is known to be valid (one error message, not two).
    m_showPending = m_showInViews->isChecked();
    m_showOptions = last;
    m_showOptions.maxNewTokens = 0;
    m_showDescription = tr("forced: %1 ⟶ %2").arg(m_prompt->text(), m_expected->text());
}

void ErrorTracePanel::rerunForModel() {
    if (!m_forced || !m_doc->hasModel()) return;
    m_keepStep = true;
    m_blameJobs.invalidate();
    const quint64 job = m_forcedJobs.start();
    m_runner->post(
        [w = m_runner->worker(), job, model = m_doc->model(), req = m_request] { w->forcePath(job, model, req); });
}

void ErrorTracePanel::onForced(quint64 job, ForcedPathPtr result) {
    if (!m_forcedJobs.accept(job)) return;
    m_forcedJobs.invalidate();
    m_forced = std::move(result);
    const auto& p = m_forced->path;
    const auto& m = *m_forced->model;
    m_syncing = true;
    m_steps->setPath(m_forced->model, p);
    m_syncing = false;
    int wrong = 0;
    for (const auto& s : p.steps)
        wrong += (!s.inPrompt && s.wrong) ? 1 : 0;
    if (p.firstWrong >= 0) {
        const auto& s = p.steps[static_cast<size_t>(p.firstWrong)];
        m_summary->setText(
            tr("<b>First wrong step: %1</b> - after %2 the model prefers <b>%3</b> to the expected <b>%4</b> "
               "(rank %5, p = %6, margin %7). %8 of %9 expected tokens are not the greedy choice. (%10 ms)")
                .arg(s.index)
                .arg(m.label(s.source).toHtmlEscaped(), m.label(s.winner).toHtmlEscaped(),
                     m.label(s.expected).toHtmlEscaped())
                .arg(s.expectedRank)
                .arg(s.expectedProbability, 0, 'g', 3)
                .arg(s.margin, 0, 'f', 4)
                .arg(wrong)
                .arg(m_forced->request.expected.size())
                .arg(m_forced->ms, 0, 'f', 1));
    } else if (m_forced->request.expected.empty()) {
        m_summary->setText(
            tr("No expected continuation: the prompt's own steps are shown. (%1 ms)").arg(m_forced->ms, 0, 'f', 1));
    } else {
        m_summary->setText(
            tr("<b>Every expected token is the greedy choice.</b> (%1 ms)").arg(m_forced->ms, 0, 'f', 1));
    }
    // Say which winner is meant: with special tokens banned (the Completion panel's "skip special
    // tokens"), the winner is the best allowed candidate, as `brillm blame --ban-special` reports it.
    if (!m_forced->request.banned.empty())
        m_summary->setText(
            m_summary->text() +
            tr(" <i>%1 special tokens never win here, as in decoding (brillm blame --ban-special); ranks "
               "and probabilities are over all candidates.</i>")
                .arg(m_forced->request.banned.size()));
    int64_t first = static_cast<int64_t>(p.steps.size()) - 1;
    if (p.firstWrong >= 0)
        first = p.firstWrong;
    else if (p.firstWrongAny >= 0)
        first = p.firstWrongAny;
    int step = static_cast<int>(first);
    if (m_keepStep && m_step >= 0 && m_step < static_cast<int>(p.steps.size())) step = m_step;
    m_keepStep = false;
    m_step = -1;
    if (m_showPending) {
        m_showPending = false;
        m_requestingTrace = true;
        m_doc->completeTokens(m_forced->tokens(), m_showOptions, static_cast<int64_t>(m_forced->request.prompt.size()),
                              -1, m_showDescription);
        m_requestingTrace = false;
    }
    Q_EMIT forcedPathReady();
    if (step >= 0) selectStep(step);
}

void ErrorTracePanel::selectStep(int step) {
    if (!m_forced || step < 0 || step >= static_cast<int>(m_forced->path.steps.size())) return;
    m_step = step;
    m_syncing = true;
    m_stepTable->selectRow(step);
    m_stepTable->scrollTo(m_steps->index(step, 0));
    if (!m_doc->isGenerating() && m_doc->trace().tokens == m_forced->tokens()) m_doc->selectStep(step);
    m_syncing = false;
    fillPickers();
    startBlame();
}

void ErrorTracePanel::fillPickers() {
    m_a->clear();
    m_b->clear();
    if (!m_forced || m_step < 0) return;
    const auto& fs = m_forced->path.steps[static_cast<size_t>(m_step)];
    const auto& ts = m_forced->trace.steps[static_cast<size_t>(m_step)];
    const auto& m = *m_forced->model;
    auto cands = topCandidates(m.model(), ts, kPickerCandidates);
    auto ensure = [&](int32_t node) {
        if (std::none_of(cands.begin(), cands.end(), [&](const Candidate& c) { return c.node == node; })) {
            Candidate c;
            c.node = node;
            c.energy =
                std::isnan(ts.energies[static_cast<size_t>(node)]) ? ts.energy : ts.energies[static_cast<size_t>(node)];
            c.rank = node == fs.expected ? fs.expectedRank : 0;
            cands.push_back(c);
        }
    };
    ensure(fs.winner);
    ensure(fs.expected);
    for (const auto& c : cands) {
        const QString text = QStringLiteral("%1   (rank %2, E %3)%4")
                                 .arg(m.label(c.node))
                                 .arg(c.rank)
                                 .arg(c.energy, 0, 'f', 3)
                                 .arg(c.node == fs.expected ? tr(" expected") : QString());
        m_a->addItem(text, c.node);
        m_b->addItem(text, c.node);
    }
    int32_t b = fs.expected;
    if (b == fs.winner) // the expected token won: compare with the runner-up
        for (const auto& c : cands)
            if (c.node != fs.winner) {
                b = c.node;
                break;
            }
    m_a->setCurrentIndex(m_a->findData(fs.winner));
    m_b->setCurrentIndex(m_b->findData(b));
}

int32_t ErrorTracePanel::pickedNode(QComboBox* box) const {
    if (!m_forced) return -1;
    const int i = box->currentIndex();
    if (i >= 0 && box->itemText(i) == box->currentText()) return box->itemData(i).toInt();
    // Typed by hand: a token (or #id), or the token part of an item's text.
    QString text = box->currentText().trimmed();
    const int cut = text.indexOf(QStringLiteral("   ("));
    if (cut > 0) text = text.left(cut);
    const auto node = m_forced->model->findNode(text);
    return node ? *node : -1;
}

void ErrorTracePanel::blamePair(int32_t a, int32_t b) {
    if (!m_forced) return;
    auto set = [](QComboBox* box, int32_t node, const QString& label) {
        int i = box->findData(node);
        if (i < 0) {
            box->addItem(label, node);
            i = box->count() - 1;
        }
        box->setCurrentIndex(i);
    };
    set(m_a, a, m_forced->model->label(a));
    set(m_b, b, m_forced->model->label(b));
    startBlame();
}

void ErrorTracePanel::startBlame() {
    if (!m_forced || m_step < 0) return;
    const int32_t a = pickedNode(m_a), b = pickedNode(m_b);
    if (a < 0 || b < 0) {
        m_blameInfo->setText(tr("<span style='color:#c33'>Unknown token: %1</span>")
                                 .arg((a < 0 ? m_a : m_b)->currentText().toHtmlEscaped()));
        return;
    }
    if (a == b) {
        m_blameInfo->setText(
            tr("<span style='color:#c33'>A and B are the same token: pick two different candidates.</span>"));
        return;
    }
    BlameQuery q;
    const auto tokens = m_forced->tokens();
    q.path.assign(tokens.begin(), tokens.begin() + m_step + 1);
    q.a = a;
    q.b = b;
    q.mode = ablationMode();
    q.convention = m_forced->request.convention;
    q.excludeSelfLoop = m_forced->request.excludeSelfLoop;
    const quint64 job = m_blameJobs.start();
    m_blameInfo->setText(tr("<i>blaming step %1…</i>").arg(m_step));
    m_runner->post([w = m_runner->worker(), job, model = m_forced->model, q] { w->blame(job, model, q); });
}

void ErrorTracePanel::onBlame(quint64 job, BlamePtr result) {
    if (!m_blameJobs.accept(job)) return;
    m_blameJobs.invalidate();
    m_blame = std::move(result);
    const auto& r = m_blame->report;
    const auto& m = *m_blame->model;
    m_contributors->setReport(m_blame->model, r);
    m_blameInfo->setText(
        tr("step %1: E(<b>%2</b>) − E(<b>%3</b>) = <b>%4</b> &nbsp; ranks %5 and %6 &nbsp; %7 contributors, "
           "%8 ms. Effect &gt; 0 (red) pushes towards A, &lt; 0 (blue) towards B.")
            .arg(r.step)
            .arg(m.label(r.query.a).toHtmlEscaped(), m.label(r.query.b).toHtmlEscaped())
            .arg(r.margin, 0, 'f', 4)
            .arg(r.rankA)
            .arg(r.rankB)
            .arg(r.contributors.size())
            .arg(m_blame->ms, 0, 'f', 1));
    emitHighlights();
    Q_EMIT blameReady();
}

bool ErrorTracePanel::documentShowsBlamedPath() const {
    if (!m_blame) return false;
    if (m_doc->isGenerating()) return m_docShowsForced; // the forced path, still streaming in
    if (!m_doc->hasTrace()) return false;
    const auto& path = m_blame->report.query.path;
    const auto& tokens = m_doc->trace().tokens;
    return tokens.size() >= path.size() && std::equal(path.begin(), path.end(), tokens.begin());
}

void ErrorTracePanel::clearHighlights() {
    m_highlightsShown = false;
    Q_EMIT highlightsChanged({}, {});
}

void ErrorTracePanel::emitHighlights() {
    EdgeHighlights edges;
    PositionHighlights positions;
    if (m_blame && documentShowsBlamedPath()) {
        const double maxAbs = std::max(1e-300, m_contributors->maxAbsEffect());
        int n = 0;
        for (const auto& c : m_blame->report.contributors) {
            if (n >= m_top->value()) break;
            if (!c.applicable || c.effect == 0) continue;
            ++n;
            const double w = c.effect / maxAbs;
            if (c.kind == ContributorKind::PathEdge || c.kind == ContributorKind::CandidateEdge)
                edges.push_back({c.source, c.target, w});
            else if (c.kind == ContributorKind::Position)
                positions.push_back({c.edgeIndex, w});
        }
    }
    const bool any = !edges.empty() || !positions.empty();
    if (!any && !m_highlightsShown) return;
    m_highlightsShown = any;
    Q_EMIT highlightsChanged(edges, positions);
}

} // namespace brillm::viz
