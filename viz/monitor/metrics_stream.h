// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The training monitor's model layer: metrics.jsonl records (docs/training-runs.md), a follower
// that reads a growing file incrementally, the per-run series the plots draw from, and
// MetricsStream, which polls a follower off the UI thread.
//
// Polling, not inotify: QFileSystemWatcher sees nothing on NFS or Lustre, where cluster runs
// write. A poll costs one stat() and, when the file grew, one read of the new bytes.

#include <QByteArray>
#include <QElapsedTimer>
#include <QFutureWatcher>
#include <QObject>
#include <QString>
#include <QStringList>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

class QTimer;

namespace brillm::viz {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// What a non-finite value was (a `null` loss with `non_finite` "nan" or "inf").
enum class NonFinite : std::uint8_t { None, NaN, Inf };

struct RankFigures {
    int rank = 0;
    double samplesPerS = kNaN, tokensPerS = kNaN, memoryMb = kNaN;
    // --shard-edges runs: the edges whose candidates the rank evaluated per second (its tokens/s),
    // the candidate rows it evaluated in the step (its work) and the bytes of its edge rows
    double edgesPerS = kNaN, candidateRows = kNaN, edgeTableBytes = kNaN;
};

// One line of metrics.jsonl. Missing numbers are NaN; a `null` loss is NaN or +Inf as
// `non_finite` says (NaN when it does not say).
struct MetricsRecord {
    enum class Type : std::uint8_t { Step, Eval, Checkpoint, Other };
    Type type = Type::Other;
    std::int64_t step = 0;
    double time = kNaN;    // Unix seconds
    double elapsed = kNaN; // training seconds across resumes (step records)
    double loss = kNaN, ppl = kNaN, lr = kNaN, gradNorm = kNaN;
    double samplesPerS = kNaN, tokensPerS = kNaN, memoryMb = kNaN;
    bool skipped = false;
    NonFinite nonFinite = NonFinite::None; // of the loss
    QString path;                          // checkpoint records
    // Distributed runs (optional).
    int worldSize = 1;
    double exchangeBytes = kNaN, denseBytes = kNaN;
    int shards = 0, replicas = 0; // --shard-edges runs (0: not sharded)
    std::vector<RankFigures> ranks;
};

// Parses one line (without its newline). Returns false and sets *error for a line that is not
// a JSON object with a string `type` and a numeric `step`; unknown keys and types are kept as
// Type::Other without complaint.
bool parseMetricsLine(const QByteArray& line, MetricsRecord* out, QString* error);

// Reads a metrics file incrementally. Not thread-safe: one thread at a time (MetricsStream
// hands it to one worker task at a time).
class MetricsFollower {
public:
    struct Chunk {
        bool reset = false;   // the file was truncated or replaced: drop what was read before
        bool missing = false; // the file does not exist (yet)
        bool more = false;    // maxBytes was reached: poll again at once
        std::vector<MetricsRecord> records;
        QStringList errors; // "line N: message", for lines that could not be parsed
        qint64 bytesRead = 0;
    };

    explicit MetricsFollower(QString path);
    const QString& path() const { return m_path; }
    // Reads what was appended since the last call, at most maxBytes. A partial last line is
    // kept until its newline arrives. Truncation (size < offset) and replacement (another
    // inode or device, or a different first line) restart from the beginning with reset set.
    Chunk poll(qint64 maxBytes = 8 << 20);
    qint64 offset() const { return m_offset; }
    qint64 linesRead() const { return m_line; }

private:
    void restart();

    QString m_path;
    qint64 m_offset = 0;
    qint64 m_line = 0;
    QByteArray m_partial;
    QByteArray m_firstLine; // the file's first complete line, to notice an in-place rewrite
    quint64 m_inode = 0, m_device = 0;
    bool m_known = false;
};

// The series of one run, as plots want them: parallel vectors, x ascending. A record whose step
// is not past the last one (a run resumed from an earlier checkpoint) replaces the abandoned
// tail from that step on, so step and time stay ascending.
struct RunSeries {
    struct Steps {
        std::vector<double> step, time, elapsed, loss, ppl, lr, gradNorm, samplesPerS, tokensPerS, memoryMb;
        std::vector<NonFinite> nonFinite;
        std::size_t size() const { return step.size(); }
    } steps;
    struct Evals {
        std::vector<double> step, time, elapsed, loss, ppl;
        std::size_t size() const { return step.size(); }
    } evals;
    std::vector<std::int64_t> checkpointSteps;
    // Per rank (distributed runs): rank r's figures at steps[rank][i].
    struct Rank {
        // tokensPerS: a sharded run's edges evaluated per second
        std::vector<double> step, time, elapsed, samplesPerS, tokensPerS, memoryMb, candidateRows, edgeTableBytes;
    };
    std::vector<Rank> ranks;
    int worldSize = 1;
    int shards = 0, replicas = 0; // of the last step record (0: not sharded)
    double lastExchangeBytes = kNaN, lastDenseBytes = kNaN;
    std::int64_t nonFiniteCount = 0;
    double firstTime = kNaN;

    void append(const MetricsRecord& r);
    void clear() { *this = RunSeries{}; }
    std::int64_t lastStep() const { return steps.size() ? static_cast<std::int64_t>(steps.step.back()) : 0; }
};

// Follows one run's metrics.jsonl: a QTimer on the owner's thread starts a poll on the thread
// pool when none is in flight; results come back queued. Large files load in chunks, each
// parsed off the UI thread.
class MetricsStream : public QObject {
    Q_OBJECT
public:
    explicit MetricsStream(const QString& metricsPath, QObject* parent = nullptr);
    ~MetricsStream() override;
    QString path() const { return m_path; }
    void setInterval(int ms);
    void start();
    void stop();
    // Starts a poll now unless one is in flight.
    void pollNow();
    bool isLoading() const { return m_loading; }
    // Milliseconds since the file last grew (or since start() when it never did).
    qint64 msSinceLastData() const { return m_lastData.isValid() ? m_lastData.elapsed() : 0; }
    qint64 linesRead() const { return m_lines; }
    qint64 bytesRead() const { return m_bytes; }

Q_SIGNALS:
    void reset();
    void recordsAvailable(const std::vector<brillm::viz::MetricsRecord>& records);
    void parseErrors(const QStringList& errors);
    void missingChanged(bool missing);
    // The backlog is read (emitted once per load, after a reset too).
    void caughtUp();

private:
    void onPolled();

    QString m_path;
    MetricsFollower* m_follower; // handed to one pool task at a time
    QTimer* m_timer;
    QFutureWatcher<MetricsFollower::Chunk> m_watcher;
    QElapsedTimer m_lastData;
    bool m_inFlight = false;
    bool m_loading = true;
    bool m_missing = false;
    bool m_stopping = false;
    qint64 m_lines = 0, m_bytes = 0;
};

} // namespace brillm::viz

Q_DECLARE_METATYPE(std::vector<brillm::viz::MetricsRecord>)
