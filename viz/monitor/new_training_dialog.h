// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// NewTrainingDialog: the few settings of a new `brillm train` run (corpus files, run directory,
// steps, batch, negatives, learning rate, optimizer, extra arguments). The last values are kept
// in QSettings; the previous run's corpus files are shown with a note, and Start asks before
// training on the same files again.

#include "monitor/training_process.h"

#include <QDialog>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QSpinBox;

namespace brillm::viz {

class NewTrainingDialog : public QDialog {
    Q_OBJECT
public:
    explicit NewTrainingDialog(QWidget* parent = nullptr);
    TrainingRequest request() const;
    void setRequest(const TrainingRequest& r);
    void accept() override;

private:
    void addCorpusFiles(const QStringList& files);
    QListWidget* m_corpus;
    QLabel* m_corpusNote;
    QStringList m_previousCorpus;
    QLineEdit* m_runDir;
    QSpinBox* m_steps;
    QSpinBox* m_batch;
    QSpinBox* m_negatives;
    QDoubleSpinBox* m_lr;
    QComboBox* m_optimizer;
    QLineEdit* m_extra;
};

} // namespace brillm::viz
