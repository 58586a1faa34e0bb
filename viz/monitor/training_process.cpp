// SPDX-License-Identifier: GPL-3.0-or-later
#include "monitor/training_process.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStandardPaths>
#include <QTimer>

#include <csignal>
#include <cstring>

namespace brillm::viz {

namespace {
constexpr qsizetype kMaxLog = 256 * 1024;
}

QStringList trainArguments(const TrainingRequest& r) {
    QStringList a{QStringLiteral("train")};
    for (const QString& c : r.corpus)
        a << QStringLiteral("--corpus") << c;
    a << QStringLiteral("--out") << r.runDirectory;
    a << QStringLiteral("--steps") << QString::number(r.steps);
    a << QStringLiteral("--batch") << QString::number(r.batch);
    a << QStringLiteral("--negatives") << QString::number(r.negatives);
    a << QStringLiteral("--lr") << QString::number(r.lr, 'g', 10);
    a << QStringLiteral("--optimizer") << r.optimizer;
    a << r.extraArguments;
    a << QStringLiteral("--json");
    return a;
}

QStringList resumeArguments(const QString& runDirectory, std::optional<qint64> steps) {
    QStringList a{QStringLiteral("train"), QStringLiteral("--resume"), runDirectory};
    if (steps) a << QStringLiteral("--steps") << QString::number(*steps);
    a << QStringLiteral("--json");
    return a;
}

TrainingProcess::TrainingProcess(QObject* parent)
    : QObject(parent), m_process(new QProcess(this)), m_killTimer(new QTimer(this)), m_program(findBrillm()) {
    m_killTimer->setSingleShot(true);
    connect(m_killTimer, &QTimer::timeout, this, [this] {
        if (!isRunning()) return;
        m_killed = true;
        appendLog(tr("\n[studio] the trainer did not stop within %1 s: killed\n").arg(m_graceMs / 1000.0));
        m_process->kill();
    });
    connect(m_process, &QProcess::readyReadStandardOutput, this, &TrainingProcess::readStdout);
    connect(m_process, &QProcess::readyReadStandardError, this, &TrainingProcess::readStderr);
    connect(m_process, &QProcess::finished, this, &TrainingProcess::onFinished);
    connect(m_process, &QProcess::errorOccurred, this, [this](QProcess::ProcessError e) {
        if (e == QProcess::FailedToStart) fail(tr("cannot start %1: %2").arg(m_program, m_process->errorString()));
    });
}

TrainingProcess::~TrainingProcess() {
    if (!isRunning()) return;
    m_reported = true; // nobody is left to tell
    m_process->terminate();
    if (!m_process->waitForFinished(10000)) {
        m_process->kill();
        m_process->waitForFinished(2000);
    }
}

QString TrainingProcess::findBrillm() {
    const QString local = QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("brillm"));
    if (QFileInfo(local).isExecutable()) return local;
    return QStandardPaths::findExecutable(QStringLiteral("brillm"));
}

QString TrainingProcess::commandLine() const {
    QStringList parts{m_program};
    parts << m_args;
    for (QString& p : parts)
        if (p.contains(QLatin1Char(' '))) p = QLatin1Char('\'') + p + QLatin1Char('\'');
    return parts.join(QLatin1Char(' '));
}

bool TrainingProcess::start(const TrainingRequest& request) {
    if (request.runDirectory.isEmpty()) {
        fail(tr("no run directory given"));
        return false;
    }
    return launch(trainArguments(request), QFileInfo(request.runDirectory).absoluteFilePath());
}

bool TrainingProcess::resume(const QString& runDirectory, std::optional<qint64> steps) {
    if (!QFileInfo::exists(QDir(runDirectory).filePath(QStringLiteral("config.json")))) {
        fail(tr("%1 is not a training run (no config.json)").arg(runDirectory));
        return false;
    }
    return launch(resumeArguments(runDirectory, steps), QFileInfo(runDirectory).absoluteFilePath());
}

bool TrainingProcess::launch(const QStringList& args, const QString& runDir) {
    if (isRunning()) {
        // Not fail(): that would report the running trainer as ended.
        appendLog(tr("\n[studio] a training is already running\n"));
        return false;
    }
    m_args = args;
    m_runDir = runDir;
    m_log.clear();
    m_stdoutBuffer.clear();
    m_lastErrorLine.clear();
    m_stopping = m_killed = false;
    m_step = m_steps = 0;
    m_reported = false;
    if (m_program.isEmpty() || !QFileInfo(m_program).isExecutable()) {
        fail(m_program.isEmpty() ? tr("the brillm command was not found next to the studio nor on PATH")
                                 : tr("%1 is not an executable").arg(m_program));
        return false;
    }
    appendLog(QStringLiteral("$ %1\n").arg(commandLine()));
    m_process->start(m_program, args);
    if (!m_process->waitForStarted(10000)) return false; // errorOccurred reported it
    Q_EMIT started(m_runDir);
    return true;
}

void TrainingProcess::stop() {
    if (!isRunning() || m_stopping) return;
    m_stopping = true;
    appendLog(tr("\n[studio] stopping: SIGTERM (the trainer writes a checkpoint first)\n"));
    m_process->terminate(); // SIGTERM on Unix
    m_killTimer->start(m_graceMs);
}

void TrainingProcess::appendLog(const QString& text) {
    m_log += text;
    if (m_log.size() > kMaxLog) m_log.remove(0, m_log.size() - kMaxLog);
    Q_EMIT logAppended(text);
}

void TrainingProcess::readStdout() {
    const QByteArray data = m_process->readAllStandardOutput();
    m_stdoutBuffer += data;
    qsizetype nl;
    while ((nl = m_stdoutBuffer.indexOf('\n')) >= 0) {
        const QByteArray line = m_stdoutBuffer.left(nl);
        m_stdoutBuffer.remove(0, nl + 1);
        const QJsonDocument doc = QJsonDocument::fromJson(line);
        if (doc.isObject() && doc.object().contains(QLatin1String("step"))) {
            const QJsonObject o = doc.object();
            m_step = o.value(QLatin1String("step")).toInteger();
            m_steps = o.value(QLatin1String("steps")).toInteger();
            Q_EMIT progress(m_step, m_steps, o.value(QLatin1String("eta_s")).toDouble(-1));
        } else {
            appendLog(QString::fromUtf8(line) + QLatin1Char('\n'));
        }
    }
}

void TrainingProcess::readStderr() {
    QString text = QString::fromUtf8(m_process->readAllStandardError());
    text.replace(QLatin1Char('\r'), QLatin1Char('\n'));
    const QStringList lines = text.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    if (!lines.isEmpty()) m_lastErrorLine = lines.last().trimmed();
    appendLog(text);
}

void TrainingProcess::fail(const QString& message) {
    if (m_reported) return;
    m_reported = true;
    appendLog(QStringLiteral("[studio] %1\n").arg(message));
    TrainingOutcome o;
    o.exitCode = -1;
    o.crashed = true;
    o.message = message;
    Q_EMIT finished(o);
}

void TrainingProcess::onFinished(int exitCode, QProcess::ExitStatus status) {
    m_killTimer->stop();
    readStdout();
    readStderr();
    if (m_reported) return;
    m_reported = true;
    TrainingOutcome o;
    o.exitCode = exitCode;
    o.killed = m_killed;
    const QString dir = QFileInfo(m_runDir).fileName();
    if (status == QProcess::CrashExit) {
        o.crashed = true;
        // On Unix a crashed QProcess's exit code is the signal's number.
        const char* name = exitCode > 0 ? strsignal(exitCode) : nullptr;
        o.message = m_killed ? tr("%1: killed after the grace period; resume from the last checkpoint").arg(dir)
                             : tr("%1: the trainer crashed (signal %2%3)")
                                   .arg(dir)
                                   .arg(exitCode)
                                   .arg(name ? QStringLiteral(", ") + QString::fromLocal8Bit(name) : QString());
    } else if (exitCode == 0) {
        o.message = tr("%1: training finished").arg(dir);
    } else if (exitCode == 130 && m_stopping) {
        o.stopped = true;
        o.message = tr("%1: stopped after a checkpoint; Resume continues it").arg(dir);
    } else {
        o.message = tr("%1: the trainer exited with code %2%3")
                        .arg(dir)
                        .arg(exitCode)
                        .arg(m_lastErrorLine.isEmpty() ? QString() : QStringLiteral(": ") + m_lastErrorLine);
    }
    m_stopping = false;
    appendLog(QStringLiteral("\n[studio] %1\n").arg(o.message));
    Q_EMIT finished(o);
}

} // namespace brillm::viz
