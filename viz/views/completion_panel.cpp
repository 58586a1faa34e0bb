// SPDX-License-Identifier: GPL-3.0-or-later
#include "views/completion_panel.h"

#include "common/palette.h"
#include "studio/studio_document.h"
#include "tracing/trace_models.h"

#include <brillm/model/device_edges.h>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QMouseEvent>
#include <QPainter>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QSettings>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardItemModel>
#include <QTableView>
#include <QTextCursor>
#include <QToolButton>
#include <QToolTip>
#include <QVBoxLayout>

namespace brillm::viz {

// ---------------------------------------------------------------- TokenFlowWidget

TokenFlowWidget::TokenFlowWidget(StudioDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    setMouseTracking(true);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    setAttribute(Qt::WA_OpaquePaintEvent);
    auto refresh = [this] {
        relayout();
        update();
    };
    connect(doc, &StudioDocument::traceReset, this, refresh);
    connect(doc, &StudioDocument::stepAppended, this, refresh);
    connect(doc, &StudioDocument::traceFinished, this, refresh);
    connect(doc, &StudioDocument::selectionChanged, this, qOverload<>(&QWidget::update));
    connect(doc, &StudioDocument::modelChanged, this, refresh);
}

int TokenFlowWidget::layoutFor(int width, std::vector<QRect>* rects) const {
    const QFontMetrics fm(font());
    const int pad = 5, gap = 3, h = fm.height() + 8, margin = 6;
    int x = margin, y = margin;
    if (rects) rects->clear();
    if (!m_doc->hasModel() || !m_doc->hasTrace()) return h + 2 * margin;
    const auto& tokens = m_doc->trace().tokens;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const int w = fm.horizontalAdvance(m_doc->model()->label(tokens[i])) + 2 * pad;
        if (x + w > width - margin && x > margin) {
            x = margin;
            y += h + gap;
        }
        if (rects) rects->emplace_back(x, y, w, h);
        x += w + gap;
    }
    return y + h + margin;
}

int TokenFlowWidget::heightForWidth(int width) const {
    return layoutFor(width, nullptr);
}
QSize TokenFlowWidget::sizeHint() const {
    return {400, heightForWidth(std::max(width(), 400))};
}

void TokenFlowWidget::relayout() {
    layoutFor(width(), &m_rects);
    const int h = heightForWidth(width());
    if (h != height()) updateGeometry();
    setMinimumHeight(h);
}

void TokenFlowWidget::resizeEvent(QResizeEvent*) {
    relayout();
}

QRect TokenFlowWidget::tokenRect(int token) const {
    return token >= 0 && token < static_cast<int>(m_rects.size()) ? m_rects[static_cast<size_t>(token)] : QRect();
}

void TokenFlowWidget::paintTo(QPainter& p, const std::vector<QRect>& rects) const {
    const ViewColors c = ViewColors::current();
    p.setRenderHint(QPainter::Antialiasing);
    if (!m_doc->hasModel() || !m_doc->hasTrace()) {
        p.setPen(c.mutedText);
        p.drawText(QRect(6, 6, 2000, 30), Qt::AlignLeft | Qt::AlignVCenter,
                   m_doc->hasModel() ? tr("Type a prompt and press Enter.")
                                     : tr("Open a model (Ctrl+O) or drop a model file here."));
        return;
    }
    const auto& tokens = m_doc->trace().tokens;
    const int64_t user = m_doc->userPromptTokens();
    const int64_t forced = m_doc->forcedAt();
    const int shown = m_doc->selectedStep();
    for (size_t i = 0; i < rects.size() && i < tokens.size(); ++i) {
        const QRect r = rects[i];
        const auto ii = static_cast<int64_t>(i);
        QColor fg = ii < user ? c.prompt : (ii == forced ? c.forced : c.generated);
        if (ii >= user && ii < forced) fg = c.prompt.lighter(115); // earlier branch prefix
        QColor bg = fg;
        bg.setAlpha(ii < user ? 28 : 50);
        p.setPen(Qt::NoPen);
        p.setBrush(bg);
        p.drawRoundedRect(r, 4, 4);
        if (shown >= 0 && static_cast<int>(i) == shown + 1) {
            p.setPen(QPen(c.selected, 2.5));
            p.setBrush(Qt::NoBrush);
            p.drawRoundedRect(r.adjusted(1, 1, -1, -1), 4, 4);
        } else if (static_cast<int>(i) == m_hover) {
            p.setPen(QPen(c.highlight, 1.5));
            p.setBrush(Qt::NoBrush);
            p.drawRoundedRect(r.adjusted(1, 1, -1, -1), 4, 4);
        }
        QFont f = font();
        f.setBold(ii >= user);
        p.setFont(f);
        p.setPen(ii < user ? c.text : fg);
        p.drawText(r, Qt::AlignCenter, m_doc->model()->label(tokens[i]));
    }
}

void TokenFlowWidget::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.fillRect(rect(), ViewColors::current().background);
    paintTo(p, m_rects);
}

void TokenFlowWidget::renderExport(QPainter& painter) {
    std::vector<QRect> rects;
    layoutFor(exportSize().width(), &rects);
    painter.fillRect(QRect(QPoint(0, 0), exportSize()), ViewColors::current().background);
    paintTo(painter, rects);
}

int TokenFlowWidget::tokenAt(QPoint pos) const {
    for (size_t i = 0; i < m_rects.size(); ++i)
        if (m_rects[i].contains(pos)) return static_cast<int>(i);
    return -1;
}

void TokenFlowWidget::mousePressEvent(QMouseEvent* event) {
    const int t = tokenAt(event->position().toPoint());
    if (t < 0) return;
    // Token i was produced by step i - 1; the first token selects the first step.
    m_doc->selectStep(std::max(0, t - 1));
}

void TokenFlowWidget::mouseMoveEvent(QMouseEvent* event) {
    const int t = tokenAt(event->position().toPoint());
    if (t != m_hover) {
        m_hover = t;
        update();
    }
    if (t < 0 || !m_doc->hasModel()) {
        QToolTip::hideText();
        return;
    }
    const auto& tr = m_doc->trace();
    QString tip = QStringLiteral("<b>%1</b> (node %2)")
                      .arg(m_doc->model()->label(tr.tokens[static_cast<size_t>(t)]).toHtmlEscaped())
                      .arg(tr.tokens[static_cast<size_t>(t)]);
    if (t >= 1 && t - 1 < static_cast<int>(tr.steps.size())) {
        const auto& s = tr.steps[static_cast<size_t>(t - 1)];
        tip += QStringLiteral("<br>step %1: energy %2, p = %3, rank %4 of %5%6")
                   .arg(s.index)
                   .arg(s.energy, 0, 'f', 4)
                   .arg(s.probability, 0, 'g', 4)
                   .arg(s.rank)
                   .arg(s.candidates)
                   .arg(s.shared ? QStringLiteral(", shared slot") : QString());
    } else {
        tip += QStringLiteral("<br>the path starts here");
    }
    QToolTip::showText(event->globalPosition().toPoint(), tip, this);
}

// ---------------------------------------------------------------- CompletionPanel

CompletionPanel::CompletionPanel(StudioDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    m_prompt = new QLineEdit;
    m_prompt->setPlaceholderText(tr("Prompt - Enter completes, Esc stops"));
    m_prompt->setClearButtonEnabled(true);
    m_run = new QPushButton(tr("Complete"));
    m_run->setToolTip(tr("Complete the prompt (Enter); while running: stop (Esc)"));
    m_back = new QToolButton;
    m_back->setArrowType(Qt::LeftArrow);
    m_back->setToolTip(tr("Previous branch (Alt+Left)"));
    m_forward = new QToolButton;
    m_forward->setArrowType(Qt::RightArrow);
    m_forward->setToolTip(tr("Next branch (Alt+Right)"));
    m_historyLabel = new QLabel;

    m_mode = new QComboBox;
    m_mode->addItems({tr("greedy"), tr("sampling")});
    m_temperature = new QDoubleSpinBox;
    m_temperature->setRange(0.01, 10.0);
    m_temperature->setSingleStep(0.1);
    m_temperature->setValue(1.0);
    m_topK = new QSpinBox;
    m_topK->setRange(0, 100000);
    m_topK->setSpecialValueText(tr("off"));
    m_topP = new QDoubleSpinBox;
    m_topP->setRange(0.01, 1.0);
    m_topP->setSingleStep(0.05);
    m_topP->setValue(1.0);
    m_seed = new QSpinBox;
    m_seed->setRange(0, std::numeric_limits<int>::max());
    m_maxTokens = new QSpinBox;
    m_maxTokens->setRange(0, 511);
    m_maxTokens->setValue(32);
    m_excludeSelf = new QCheckBox(tr("exclude self-loops"));
    m_excludeSelf->setChecked(true);
    m_excludeSelf->setToolTip(tr("Drop target == source from the candidates, as the released decoder does"));
    m_skipSpecial = new QCheckBox(tr("skip special tokens"));
    m_skipSpecial->setChecked(true);
    m_skipSpecial->setToolTip(tr("Never choose [PAD], [UNK], [CLS], [SEP], [MASK] and the tokenizer's other special "
                                 "tokens; they stay candidates, so ranks and probabilities are unchanged"));
    m_reference = new QCheckBox(tr("reference decode"));
    m_reference->setToolTip(tr("Reproduce the released decoder: PE offset by one, temperature/top-k/top-p ignored"));

    m_device = new QComboBox;
    m_device->setObjectName(QStringLiteral("completion.device"));
    m_device->addItem(tr("auto"), QStringLiteral("auto"));
    m_device->addItem(tr("CPU"), QStringLiteral("cpu"));
    m_device->addItem(tr("GPU"), QStringLiteral("cuda"));
    const bool cuda = cudaAvailable();
    if (auto* items = qobject_cast<QStandardItemModel*>(m_device->model())) {
        QStandardItem* gpu = items->item(2);
        gpu->setEnabled(cuda);
        gpu->setToolTip(cuda ? tr("Score every step's candidates on the GPU (cuda:0)")
                             : tr("Not available: this build's LibTorch has no CUDA, or no GPU is usable"));
    }
    m_device->setToolTip(
        tr("Where each step's candidates are scored. auto: on the GPU for models with %1 MB of edge parameters or "
           "more, when a GPU is usable%2; the path taken is always computed on the CPU")
            .arg(kAutoGpuEdgeBytes >> 20)
            .arg(cuda ? QString() : tr(" (none here: this build's LibTorch has no CUDA)")));
    {
        const QString saved = QSettings().value(QStringLiteral("completion/device"), QStringLiteral("auto")).toString();
        const int at = m_device->findData(saved);
        m_device->setCurrentIndex(at >= 0 && (at != 2 || cuda) ? at : 0);
        doc->setScoringDevice(m_device->currentData().toString());
    }

    auto* top = new QHBoxLayout;
    top->addWidget(m_back);
    top->addWidget(m_forward);
    top->addWidget(m_prompt, 1);
    top->addWidget(m_run);

    auto* opts = new QHBoxLayout;
    auto addLabeled = [&](const QString& label, QWidget* w) {
        auto* l = new QLabel(label);
        l->setBuddy(w);
        opts->addWidget(l);
        opts->addWidget(w);
    };
    // two rows, so that the panel fits beside the other docks on a laptop screen
    opts->addWidget(m_mode);
    addLabeled(tr("&T"), m_temperature);
    addLabeled(tr("top-&k"), m_topK);
    addLabeled(tr("top-&p"), m_topP);
    addLabeled(tr("see&d"), m_seed);
    addLabeled(tr("sc&oring"), m_device);
    opts->addStretch(1);
    auto* opts2 = new QHBoxLayout;
    {
        auto* l = new QLabel(tr("&max tokens"));
        l->setBuddy(m_maxTokens);
        opts2->addWidget(l);
        opts2->addWidget(m_maxTokens);
    }
    opts2->addWidget(m_excludeSelf);
    opts2->addWidget(m_skipSpecial);
    opts2->addWidget(m_reference);
    opts2->addStretch(1);
    opts2->addWidget(m_historyLabel);

    m_flow = new TokenFlowWidget(doc);
    auto* scroll = new QScrollArea;
    scroll->setWidget(m_flow);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::StyledPanel);
    m_text = new QPlainTextEdit;
    m_text->setObjectName(QStringLiteral("completion.text"));
    m_text->setReadOnly(true);
    m_text->setTextInteractionFlags(Qt::TextSelectableByMouse | Qt::TextSelectableByKeyboard);
    m_text->setPlaceholderText(tr("The prompt and its completion as text"));
    m_text->setToolTip(tr("The prompt and its completion as plain text (generated part in bold): select and copy"));
    m_text->setMinimumHeight(m_text->fontMetrics().lineSpacing() * 2 + 10);

    m_stepInfo = new QLabel;
    m_stepInfo->setTextFormat(Qt::RichText);
    m_stepInfo->setWordWrap(true);
    m_energyWarning = new QLabel;
    m_energyWarning->setObjectName(QStringLiteral("completion.energyWarning"));
    m_energyWarning->setTextFormat(Qt::RichText);
    m_energyWarning->setWordWrap(true);
    m_energyWarning->setVisible(false);
    m_candidates = new CandidateTableModel(this);
    m_table = new QTableView;
    m_table->setModel(m_candidates);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->verticalHeader()->hide();
    m_table->verticalHeader()->setDefaultSectionSize(m_table->fontMetrics().height() + 6);
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    m_table->setAlternatingRowColors(true);
    m_candidateCount = new QSpinBox;
    m_candidateCount->setRange(1, 500);
    m_candidateCount->setValue(10);
    m_candidateCount->setPrefix(tr("top "));
    m_branch = new QPushButton(tr("Continue with this token"));
    m_branch->setToolTip(tr("Take the selected candidate at this step and decode on from there (a new branch); "
                            "double-click a row does the same"));

    auto* candBar = new QHBoxLayout;
    candBar->addWidget(m_stepInfo, 1);
    candBar->addWidget(m_candidateCount);
    candBar->addWidget(m_branch);
    auto* lower = new QWidget;
    auto* lowerLayout = new QVBoxLayout(lower);
    lowerLayout->setContentsMargins(0, 0, 0, 0);
    lowerLayout->addLayout(candBar);
    lowerLayout->addWidget(m_table, 1);

    auto* split = new QSplitter(Qt::Vertical);
    split->addWidget(scroll);
    split->addWidget(m_text);
    split->addWidget(lower);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 1);
    split->setStretchFactor(2, 2);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(top);
    layout->addLayout(opts);
    layout->addLayout(opts2);
    layout->addWidget(m_energyWarning);
    layout->addWidget(split, 1);

    connect(m_prompt, &QLineEdit::returnPressed, this, &CompletionPanel::run);
    connect(m_run, &QPushButton::clicked, this, [this] { m_doc->isGenerating() ? cancel() : run(); });
    connect(m_back, &QToolButton::clicked, doc, &StudioDocument::back);
    connect(m_forward, &QToolButton::clicked, doc, &StudioDocument::forward);
    connect(m_mode, &QComboBox::currentIndexChanged, this, &CompletionPanel::updateModeWidgets);
    connect(m_reference, &QCheckBox::toggled, this, &CompletionPanel::updateModeWidgets);
    connect(m_candidateCount, &QSpinBox::valueChanged, this, &CompletionPanel::updateCandidates);
    connect(m_branch, &QPushButton::clicked, this, [this] {
        const auto rows = m_table->selectionModel()->selectedRows();
        branchWithRow(rows.isEmpty() ? -1 : rows.first().row());
    });
    connect(m_table, &QTableView::doubleClicked, this, [this](const QModelIndex& i) { branchWithRow(i.row()); });
    connect(m_mode, &QComboBox::currentIndexChanged, this, &CompletionPanel::optionsChanged);
    connect(m_temperature, &QDoubleSpinBox::valueChanged, this, &CompletionPanel::optionsChanged);
    connect(m_topK, &QSpinBox::valueChanged, this, &CompletionPanel::optionsChanged);
    connect(m_topP, &QDoubleSpinBox::valueChanged, this, &CompletionPanel::optionsChanged);
    connect(m_seed, &QSpinBox::valueChanged, this, &CompletionPanel::optionsChanged);
    connect(m_maxTokens, &QSpinBox::valueChanged, this, &CompletionPanel::optionsChanged);
    connect(m_excludeSelf, &QCheckBox::toggled, this, &CompletionPanel::optionsChanged);
    connect(m_reference, &QCheckBox::toggled, this, &CompletionPanel::optionsChanged);
    connect(m_device, &QComboBox::currentIndexChanged, this, [this] {
        const QString device = m_device->currentData().toString();
        m_doc->setScoringDevice(device);
        QSettings().setValue(QStringLiteral("completion/device"), device);
    });
    connect(m_skipSpecial, &QCheckBox::toggled, this, &CompletionPanel::optionsChanged);

    connect(doc, &StudioDocument::selectionChanged, this, &CompletionPanel::updateCandidates);
    connect(doc, &StudioDocument::traceReset, this, &CompletionPanel::updateText);
    connect(doc, &StudioDocument::stepAppended, this, &CompletionPanel::updateText);
    connect(doc, &StudioDocument::traceFinished, this, &CompletionPanel::updateText);
    connect(doc, &StudioDocument::modelChanged, this, &CompletionPanel::updateText);
    connect(doc, &StudioDocument::traceFinished, this, &CompletionPanel::updateCandidates);
    connect(doc, &StudioDocument::traceReset, this, &CompletionPanel::updateCandidates);
    connect(doc, &StudioDocument::traceFinished, this, &CompletionPanel::updateEnergyWarning);
    connect(doc, &StudioDocument::traceReset, this, &CompletionPanel::updateEnergyWarning);
    connect(doc, &StudioDocument::busyChanged, this, &CompletionPanel::updateState);
    connect(doc, &StudioDocument::historyChanged, this, &CompletionPanel::updateState);
    connect(doc, &StudioDocument::modelChanged, this, &CompletionPanel::updateState);
    updateModeWidgets();
    updateState();
    updateCandidates();
    setFocusProxy(m_prompt);
}

DecodeOptions CompletionPanel::options() const {
    DecodeOptions o;
    o.maxNewTokens = m_maxTokens->value();
    o.greedy = m_mode->currentIndex() == 0;
    o.temperature = m_temperature->value();
    o.topK = m_topK->value();
    o.topP = m_topP->value();
    o.seed = static_cast<uint64_t>(m_seed->value());
    o.excludeSelfLoop = m_excludeSelf->isChecked();
    o.referenceDecode = m_reference->isChecked();
    if (m_skipSpecial->isChecked() && m_doc->model() && m_doc->model()->codec)
        o.bannedTokens = m_doc->model()->codec->specialNodes();
    o.recordTrace = true;
    return o;
}

bool CompletionPanel::skipSpecial() const {
    return m_skipSpecial->isChecked();
}
void CompletionPanel::setSkipSpecial(bool skip) {
    m_skipSpecial->setChecked(skip);
}

void CompletionPanel::setOptions(const DecodeOptions& o) {
    m_maxTokens->setValue(static_cast<int>(o.maxNewTokens));
    m_mode->setCurrentIndex(o.greedy ? 0 : 1);
    m_temperature->setValue(o.temperature);
    m_topK->setValue(static_cast<int>(o.topK));
    m_topP->setValue(o.topP);
    m_seed->setValue(static_cast<int>(o.seed));
    m_excludeSelf->setChecked(o.excludeSelfLoop);
    m_reference->setChecked(o.referenceDecode);
}

QString CompletionPanel::prompt() const {
    return m_prompt->text();
}
void CompletionPanel::setPrompt(const QString& text) {
    m_prompt->setText(text);
}
int CompletionPanel::candidateCount() const {
    return m_candidateCount->value();
}

void CompletionPanel::run() {
    m_doc->complete(m_prompt->text(), options());
}
void CompletionPanel::cancel() {
    m_doc->cancel();
}

void CompletionPanel::branchWithRow(int row) {
    const int step = m_doc->shownStep();
    const int32_t node = m_candidates->nodeAt(row);
    if (step < 0 || node < 0 || m_doc->isGenerating()) return;
    m_doc->branchAt(step, node);
}

namespace {
// The text of nodes [from, to) of the trace, decoded as the codec decodes a sequence (bytes of
// a character split over tokens join up); without a codec, the nodes' texts.
QString decodeRange(const StudioModel& m, const std::vector<int32_t>& tokens, size_t from, size_t to) {
    if (from >= to) return {};
    if (m.codec)
        return QString::fromStdString(m.codec->decode(std::span<const int32_t>(tokens.data() + from, to - from)));
    QString out;
    for (size_t i = from; i < to; ++i)
        out += m.text(tokens[i]);
    return out;
}
} // namespace

QString CompletionPanel::completionText() const {
    return m_text->toPlainText();
}

void CompletionPanel::updateText() {
    m_text->clear();
    if (!m_doc->hasModel() || !m_doc->hasTrace()) return;
    const auto& tokens = m_doc->trace().tokens;
    const auto user = std::min(tokens.size(), static_cast<size_t>(std::max<int64_t>(0, m_doc->userPromptTokens())));
    QTextCursor cursor(m_text->document());
    cursor.insertText(decodeRange(*m_doc->model(), tokens, 0, user));
    QTextCharFormat generated;
    generated.setFontWeight(QFont::Bold);
    cursor.insertText(decodeRange(*m_doc->model(), tokens, user, tokens.size()), generated);
}

void CompletionPanel::updateModeWidgets() {
    const bool sampling = m_mode->currentIndex() == 1 && !m_reference->isChecked();
    m_temperature->setEnabled(sampling);
    m_topK->setEnabled(sampling);
    m_topP->setEnabled(sampling);
    m_seed->setEnabled(m_mode->currentIndex() == 1);
}

void CompletionPanel::updateState() {
    const bool busy = m_doc->isGenerating();
    m_run->setText(busy ? tr("Stop") : tr("Complete"));
    m_run->setEnabled(m_doc->hasModel());
    m_back->setEnabled(m_doc->canGoBack() && !busy);
    m_forward->setEnabled(m_doc->canGoForward() && !busy);
    m_branch->setEnabled(!busy && m_doc->hasTrace());
    m_historyLabel->setText(m_doc->historySize() > 0
                                ? tr("branch %1 of %2").arg(m_doc->historyIndex() + 1).arg(m_doc->historySize())
                                : QString());
    if (m_doc->historyIndex() >= 0)
        m_historyLabel->setToolTip(m_doc->history()[static_cast<size_t>(m_doc->historyIndex())].description);
}

void CompletionPanel::updateCandidates() {
    const int step = m_doc->shownStep();
    if (!m_doc->hasModel() || step < 0) {
        m_candidates->clear();
        m_stepInfo->setText(tr("<i>Select a token to see the candidates of its step.</i>"));
        return;
    }
    const auto& s = m_doc->trace().steps[static_cast<size_t>(step)];
    const auto& m = *m_doc->model();
    m_candidates->setCandidates(m_doc->model(), topCandidates(m.model(), s, m_candidateCount->value()));
    for (int r = 0; r < m_candidates->rowCount(); ++r)
        if (m_candidates->nodeAt(r) == s.target) m_table->selectRow(r);
    QString info = tr("<b>step %1</b>: %2 → <b>%3</b> &nbsp; energy %4, p = %5, rank %6 of %7 (all candidates)%8%9")
                       .arg(s.index)
                       .arg(m.label(s.source).toHtmlEscaped(), m.label(s.target).toHtmlEscaped())
                       .arg(s.energy, 0, 'f', 4)
                       .arg(s.probability, 0, 'g', 4)
                       .arg(s.rank)
                       .arg(s.candidates)
                       .arg(s.shared ? tr(", <span style='color:#c33'>shared slot</span>") : QString())
                       .arg(s.ties > 1 ? tr(", %1 tied at the top").arg(s.ties) : QString());
    // A filter must not change what a number means silently: say what the banned tokens hold.
    const auto& banned = m_doc->lastOptions().bannedTokens;
    if (!banned.empty()) {
        const BannedMass b = bannedMass(s, banned);
        if (b.bannedCandidates > 0)
            info += tr("<br>Skipped special tokens hold <b>%1%</b> of the probability (%2 candidates; top %3, p = %4)"
                       "%5")
                        .arg(b.mass * 100, 0, 'g', 3)
                        .arg(b.bannedCandidates)
                        .arg(m.label(b.topBanned).toHtmlEscaped())
                        .arg(b.topBannedProbability, 0, 'g', 3)
                        .arg(b.bannedAbove > 0 ? tr("; %1 rank above this token, which is rank %2 among the allowed")
                                                     .arg(b.bannedAbove)
                                                     .arg(b.rankAllowed)
                                               : QString());
    }
    m_stepInfo->setText(info);
}

QString CompletionPanel::stepInfoText() const {
    return m_stepInfo->text();
}
QString CompletionPanel::energyWarningText() const {
    return m_energyWarning->text();
}

void CompletionPanel::updateEnergyWarning() {
    if (!m_doc->hasTrace() || m_doc->isGenerating()) {
        m_energyWarning->clear();
        m_energyWarning->setVisible(false);
        return;
    }
    const EnergyHealth h = energyHealth(m_doc->trace());
    if (!h.warn()) {
        m_energyWarning->clear();
        m_energyWarning->setVisible(false);
        return;
    }
    QString text = tr("<span style='color:#c33'>⚠ Energies grow without bound on this path: |energy| up to <b>%1</b> "
                      "(step %2).")
                       .arg(h.maxAbsEnergy, 0, 'g', 4)
                       .arg(h.maxStep);
    if (h.firstSaturated >= 0)
        text += tr(" The winner holds p = 1 at %1 step%2 (first: step %3): probabilities are saturated and say "
                   "nothing about the runners-up; compare energies.")
                    .arg(h.saturatedSteps)
                    .arg(h.saturatedSteps == 1 ? "" : "s")
                    .arg(h.firstSaturated);
    text += QStringLiteral("</span>");
    m_energyWarning->setText(text);
    m_energyWarning->setVisible(true);
}

} // namespace brillm::viz
