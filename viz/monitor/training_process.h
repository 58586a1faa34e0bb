// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// TrainingProcess: runs `brillm train` (or `brillm train --resume`) as a separate process, so a
// trainer that crashes, runs out of memory or is killed never takes the studio down. Stop sends
// SIGTERM, on which the trainer finishes its step, writes a checkpoint and exits with 130
// (cli/cmd_train.cpp); after a grace period the process is killed. Every way a run ends is
// reported through finished(); nothing is thrown. UI thread only.

#include <QObject>
#include <QProcess>
#include <QString>
#include <QStringList>

#include <optional>

class QTimer;

namespace brillm::viz {

struct TrainingRequest {
    QStringList corpus;                          // --corpus, repeatable
    QString runDirectory;                        // --out
    qint64 steps = 1500;                         // --steps
    qint64 batch = 32;                           // --batch
    qint64 negatives = 400;                      // --negatives
    double lr = 0.05;                            // --lr
    QString optimizer = QStringLiteral("adamw"); // --optimizer adamw|sparse-adamw
    QStringList extraArguments;                  // passed as they are (e.g. --eval-every 50)
};

// The command lines (without the program). --json: progress as JSON lines on stdout.
QStringList trainArguments(const TrainingRequest& r);
QStringList resumeArguments(const QString& runDirectory, std::optional<qint64> steps = std::nullopt);

struct TrainingOutcome {
    int exitCode = 0;
    bool crashed = false; // ended by a signal (or failed to start)
    bool stopped = false; // stopped on request (checkpoint written: exit 130), resumable
    bool killed = false;  // did not stop within the grace period and was killed
    QString message;      // one line for the UI
};

class TrainingProcess : public QObject {
    Q_OBJECT
public:
    explicit TrainingProcess(QObject* parent = nullptr);
    // Stops a running trainer (SIGTERM, then kill after at most 10 s).
    ~TrainingProcess() override;

    // `brillm` next to the studio's executable, else on PATH; empty when neither exists.
    static QString findBrillm();
    void setProgram(const QString& program) { m_program = program; }
    QString program() const { return m_program; }
    void setGracePeriodMs(int ms) { m_graceMs = ms; }

    // Starts a new run / resumes one. False (and finished() with the reason) when it cannot
    // start: no program, already running.
    bool start(const TrainingRequest& request);
    bool resume(const QString& runDirectory, std::optional<qint64> steps = std::nullopt);
    // SIGTERM now, SIGKILL after the grace period.
    void stop();
    bool isRunning() const { return m_process->state() != QProcess::NotRunning; }
    bool isStopping() const { return m_stopping; }
    QString runDirectory() const { return m_runDir; }
    QString commandLine() const;
    // The output so far (stdout and stderr, the last ~256 KiB).
    QString log() const { return m_log; }
    // The last {"step": .., "steps": ..} progress line seen.
    qint64 lastStep() const { return m_step; }
    qint64 totalSteps() const { return m_steps; }

Q_SIGNALS:
    void started(const QString& runDirectory);
    void logAppended(const QString& text);
    void progress(qint64 step, qint64 steps, double etaSeconds);
    void finished(const brillm::viz::TrainingOutcome& outcome);

private:
    bool launch(const QStringList& args, const QString& runDir);
    void readStdout();
    void readStderr();
    void appendLog(const QString& text);
    void onFinished(int exitCode, QProcess::ExitStatus status);
    void fail(const QString& message);

    QProcess* m_process;
    QTimer* m_killTimer;
    QString m_program;
    QString m_runDir;
    QStringList m_args;
    QString m_log;
    QByteArray m_stdoutBuffer;
    QString m_lastErrorLine;
    int m_graceMs = 60000;
    bool m_stopping = false;
    bool m_killed = false;
    bool m_reported = true;
    qint64 m_step = 0, m_steps = 0;
};

} // namespace brillm::viz

Q_DECLARE_METATYPE(brillm::viz::TrainingOutcome)
