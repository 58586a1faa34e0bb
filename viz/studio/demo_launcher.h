// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// DemoLauncher: prepares the demo model by running `brillm demo --prepare LANG --progress-json`
// (the CLI next to the studio) in a separate process, so a crash or a kill cannot take the
// studio down. The CLI prints JSON lines {"progress": 0.42, "message": "..."} and finally
// {"model": "/abs/path/model.brillm", "prompt": "an example prompt"}; an {"error": "..."} line
// or a failing exit is reported.

#include <QObject>
#include <QProcess>
#include <QString>

namespace brillm::viz {

class DemoLauncher : public QObject {
    Q_OBJECT
public:
    explicit DemoLauncher(QObject* parent = nullptr);
    ~DemoLauncher() override;
    // Default: QCoreApplication::applicationDirPath() + "/brillm".
    void setProgram(const QString& program) { m_program = program; }
    QString program() const { return m_program; }
    void start(const QString& language = QStringLiteral("en"));
    void cancel();
    bool isRunning() const { return m_process.state() != QProcess::NotRunning; }

    // Parses one output line; returns false for lines that are not JSON objects (ignored).
    bool handleLine(const QByteArray& line);

Q_SIGNALS:
    void progress(double fraction, const QString& message);
    void modelReady(const QString& path, const QString& examplePrompt); // prompt may be empty
    void failed(const QString& message);

private:
    void readOutput();
    void finished(int exitCode, QProcess::ExitStatus status);

    QString m_program;
    QProcess m_process;
    QByteArray m_buffer;
    QByteArray m_stderr;
    bool m_done = false;
};

} // namespace brillm::viz
