// SPDX-License-Identifier: GPL-3.0-or-later
#include "studio/demo_launcher.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>

namespace brillm::viz {

DemoLauncher::DemoLauncher(QObject* parent) : QObject(parent) {
    m_program = QCoreApplication::applicationDirPath() + QStringLiteral("/brillm");
    connect(&m_process, &QProcess::readyReadStandardOutput, this, &DemoLauncher::readOutput);
    connect(&m_process, &QProcess::readyReadStandardError, this, [this] {
        m_stderr += m_process.readAllStandardError();
        if (m_stderr.size() > 8192) m_stderr = m_stderr.right(8192);
    });
    connect(&m_process, &QProcess::finished, this, &DemoLauncher::finished);
    connect(&m_process, &QProcess::errorOccurred, this, [this](QProcess::ProcessError e) {
        if (e == QProcess::FailedToStart && !m_done) {
            m_done = true;
            Q_EMIT failed(tr("cannot start %1: %2").arg(m_program, m_process.errorString()));
        }
    });
}

DemoLauncher::~DemoLauncher() {
    cancel();
}

void DemoLauncher::start(const QString& language) {
    cancel();
    m_done = false;
    m_buffer.clear();
    m_stderr.clear();
    if (!QFileInfo(m_program).isExecutable()) {
        m_done = true;
        Q_EMIT failed(tr("the demo needs the brillm command next to the studio (%1 not found)").arg(m_program));
        return;
    }
    Q_EMIT progress(0, tr("Preparing the demo model…"));
    m_process.start(m_program,
                    {QStringLiteral("demo"), QStringLiteral("--prepare"), language, QStringLiteral("--progress-json")});
}

void DemoLauncher::cancel() {
    if (m_process.state() == QProcess::NotRunning) return;
    m_done = true;
    m_process.kill();
    m_process.waitForFinished(2000);
}

bool DemoLauncher::handleLine(const QByteArray& line) {
    QJsonParseError err{};
    const QJsonDocument doc = QJsonDocument::fromJson(line.trimmed(), &err);
    if (err.error != QJsonParseError::NoError || !doc.isObject()) return false;
    const QJsonObject o = doc.object();
    if (o.contains(QStringLiteral("error")) && !m_done) {
        m_done = true;
        Q_EMIT failed(o.value(QStringLiteral("error")).toString());
    } else if (o.contains(QStringLiteral("model")) && !m_done) {
        m_done = true;
        Q_EMIT modelReady(o.value(QStringLiteral("model")).toString(), o.value(QStringLiteral("prompt")).toString());
    } else if (o.contains(QStringLiteral("progress"))) {
        Q_EMIT progress(o.value(QStringLiteral("progress")).toDouble(), o.value(QStringLiteral("message")).toString());
    }
    return true;
}

void DemoLauncher::readOutput() {
    m_buffer += m_process.readAllStandardOutput();
    qsizetype nl;
    while ((nl = m_buffer.indexOf('\n')) >= 0) {
        const QByteArray line = m_buffer.left(nl);
        m_buffer.remove(0, nl + 1);
        handleLine(line);
    }
}

void DemoLauncher::finished(int exitCode, QProcess::ExitStatus status) {
    readOutput();
    if (!m_buffer.isEmpty()) handleLine(m_buffer);
    m_buffer.clear();
    if (m_done) return;
    m_done = true;
    const QString detail = QString::fromUtf8(m_stderr).trimmed().section(QLatin1Char('\n'), -1);
    if (status != QProcess::NormalExit)
        Q_EMIT failed(tr("the demo preparation crashed"));
    else
        Q_EMIT failed(tr("brillm demo exited with code %1%2")
                          .arg(exitCode)
                          .arg(detail.isEmpty() ? QString() : QStringLiteral(": ") + detail));
}

} // namespace brillm::viz
