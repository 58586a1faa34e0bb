// SPDX-License-Identifier: GPL-3.0-or-later
#include "monitor/new_training_dialog.h"

#include <QComboBox>
#include <QDateTime>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>

namespace brillm::viz {

NewTrainingDialog::NewTrainingDialog(QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("New training"));
    m_corpus = new QListWidget;
    m_corpus->setObjectName(QStringLiteral("training.corpus"));
    m_corpus->setMaximumHeight(140);
    m_corpusNote = new QLabel;
    m_corpusNote->setObjectName(QStringLiteral("training.corpusNote"));
    m_corpusNote->setWordWrap(true);
    m_corpusNote->setVisible(false);
    auto* addCorpus = new QPushButton(tr("Add…"));
    auto* removeCorpus = new QPushButton(tr("Remove"));
    connect(addCorpus, &QPushButton::clicked, this, [this] {
        const QStringList files =
            QFileDialog::getOpenFileNames(this, tr("Training text"), QString(), tr("Text (*.txt);;All files (*)"));
        addCorpusFiles(files);
    });
    connect(removeCorpus, &QPushButton::clicked, this, [this] { qDeleteAll(m_corpus->selectedItems()); });
    auto* corpusButtons = new QVBoxLayout;
    corpusButtons->addWidget(addCorpus);
    corpusButtons->addWidget(removeCorpus);
    corpusButtons->addStretch();
    auto* corpusRow = new QHBoxLayout;
    corpusRow->addWidget(m_corpus, 1);
    corpusRow->addLayout(corpusButtons);

    m_runDir = new QLineEdit;
    m_runDir->setPlaceholderText(tr("a new directory (it must not hold a run yet)"));
    auto* browse = new QPushButton(tr("Browse…"));
    connect(browse, &QPushButton::clicked, this, [this] {
        const QString d = QFileDialog::getExistingDirectory(this, tr("Parent directory of the run"));
        if (!d.isEmpty())
            m_runDir->setText(QDir(d).filePath(QStringLiteral("run-%1").arg(
                QDateTime::currentDateTime().toString(QStringLiteral("yyyyMMdd-HHmmss")))));
    });
    auto* dirRow = new QHBoxLayout;
    dirRow->addWidget(m_runDir, 1);
    dirRow->addWidget(browse);

    auto spin = [](int lo, int hi) {
        auto* s = new QSpinBox;
        s->setRange(lo, hi);
        return s;
    };
    m_steps = spin(1, 100000000);
    m_batch = spin(1, 1000000);
    m_negatives = spin(1, 1000000);
    m_lr = new QDoubleSpinBox;
    m_lr->setDecimals(6);
    m_lr->setRange(1e-6, 10);
    m_lr->setSingleStep(0.001);
    m_optimizer = new QComboBox;
    m_optimizer->addItems({QStringLiteral("adamw"), QStringLiteral("sparse-adamw")});
    m_extra = new QLineEdit;
    m_extra->setPlaceholderText(QStringLiteral("--eval-every 50 --checkpoint-every 200"));

    auto* form = new QFormLayout;
    form->addRow(tr("Corpus files"), corpusRow);
    form->addRow(QString(), m_corpusNote);
    form->addRow(tr("Run directory"), dirRow);
    form->addRow(tr("Steps"), m_steps);
    form->addRow(tr("Batch (sequences)"), m_batch);
    form->addRow(tr("Negatives per edge"), m_negatives);
    form->addRow(tr("Learning rate"), m_lr);
    form->addRow(tr("Optimizer"), m_optimizer);
    form->addRow(tr("Other arguments"), m_extra);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
    buttons->button(QDialogButtonBox::Ok)->setText(tr("Start"));
    connect(buttons, &QDialogButtonBox::accepted, this, &NewTrainingDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addWidget(buttons);

    QSettings s;
    TrainingRequest r;
    r.corpus = s.value(QStringLiteral("training/corpus")).toStringList();
    r.steps = s.value(QStringLiteral("training/steps"), r.steps).toLongLong();
    r.batch = s.value(QStringLiteral("training/batch"), r.batch).toLongLong();
    r.negatives = s.value(QStringLiteral("training/negatives"), r.negatives).toLongLong();
    r.lr = s.value(QStringLiteral("training/lr"), r.lr).toDouble();
    r.optimizer = s.value(QStringLiteral("training/optimizer"), r.optimizer).toString();
    r.extraArguments = QProcess::splitCommand(s.value(QStringLiteral("training/extra")).toString());
    setRequest(r);
    // The previous run's corpus is shown, never reused silently: a note here, a question on Start.
    m_previousCorpus = r.corpus;
    if (!m_previousCorpus.isEmpty()) {
        m_corpusNote->setText(m_previousCorpus.size() == 1
                                  ? tr("<i>This file is the previous run's corpus. Remove it or add others; Start "
                                       "asks before training on it again.</i>")
                                  : tr("<i>These %1 files are the previous run's corpus. Remove them or add others; "
                                       "Start asks before training on them again.</i>")
                                        .arg(m_previousCorpus.size()));
        m_corpusNote->setVisible(true);
    }
}

void NewTrainingDialog::addCorpusFiles(const QStringList& files) {
    // The file name first (long paths would hide it), the whole path in the tooltip.
    for (const QString& f : files) {
        auto* item =
            new QListWidgetItem(QStringLiteral("%1   (%2)").arg(QFileInfo(f).fileName(), QFileInfo(f).absolutePath()));
        item->setData(Qt::UserRole, f);
        item->setToolTip(f);
        m_corpus->addItem(item);
    }
}

TrainingRequest NewTrainingDialog::request() const {
    TrainingRequest r;
    for (int i = 0; i < m_corpus->count(); ++i)
        r.corpus << m_corpus->item(i)->data(Qt::UserRole).toString();
    r.runDirectory = m_runDir->text().trimmed();
    r.steps = m_steps->value();
    r.batch = m_batch->value();
    r.negatives = m_negatives->value();
    r.lr = m_lr->value();
    r.optimizer = m_optimizer->currentText();
    r.extraArguments = QProcess::splitCommand(m_extra->text());
    return r;
}

void NewTrainingDialog::setRequest(const TrainingRequest& r) {
    m_corpus->clear();
    addCorpusFiles(r.corpus);
    m_runDir->setText(r.runDirectory);
    m_steps->setValue(static_cast<int>(r.steps));
    m_batch->setValue(static_cast<int>(r.batch));
    m_negatives->setValue(static_cast<int>(r.negatives));
    m_lr->setValue(r.lr);
    m_optimizer->setCurrentText(r.optimizer);
    m_extra->setText(r.extraArguments.join(QLatin1Char(' ')));
}

void NewTrainingDialog::accept() {
    const TrainingRequest r = request();
    QString problem;
    if (r.corpus.isEmpty()) problem = tr("Add at least one corpus file.");
    for (const QString& c : r.corpus)
        if (!QFileInfo(c).isReadable()) problem = tr("Cannot read %1.").arg(c);
    if (r.runDirectory.isEmpty())
        problem = tr("Name the run directory.");
    else if (QFileInfo::exists(QDir(r.runDirectory).filePath(QStringLiteral("config.json"))))
        problem = tr("%1 already holds a run: resume it instead, or choose another directory.").arg(r.runDirectory);
    if (!problem.isEmpty()) {
        QMessageBox::warning(this, tr("New training"), problem);
        return;
    }
    if (!m_previousCorpus.isEmpty() && r.corpus == m_previousCorpus) {
        QString list;
        for (const QString& c : r.corpus)
            list += QStringLiteral("\n  ") + c;
        const auto answer = QMessageBox::question(this, tr("New training"),
                                                  tr("Train on the previous run's corpus files again?\n%1").arg(list),
                                                  QMessageBox::Yes | QMessageBox::No, QMessageBox::No);
        if (answer != QMessageBox::Yes) return;
    }
    QSettings s;
    s.setValue(QStringLiteral("training/corpus"), r.corpus);
    s.setValue(QStringLiteral("training/steps"), r.steps);
    s.setValue(QStringLiteral("training/batch"), r.batch);
    s.setValue(QStringLiteral("training/negatives"), r.negatives);
    s.setValue(QStringLiteral("training/lr"), r.lr);
    s.setValue(QStringLiteral("training/optimizer"), r.optimizer);
    s.setValue(QStringLiteral("training/extra"), m_extra->text());
    QDialog::accept();
}

} // namespace brillm::viz
