// SPDX-License-Identifier: GPL-3.0-or-later
#include "monitor/metrics_stream.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTimer>
#include <QtConcurrent/QtConcurrentRun>

#include <sys/stat.h>

#include <algorithm>
#include <utility>

namespace brillm::viz {

namespace {

double number(const QJsonObject& o, QLatin1String key) {
    const QJsonValue v = o.value(key);
    return v.isDouble() ? v.toDouble() : kNaN;
}

NonFinite nonFiniteKind(const QJsonObject& o) {
    const QString s = o.value(QLatin1String("non_finite")).toString();
    if (s == QLatin1String("inf") || s == QLatin1String("-inf")) return NonFinite::Inf;
    return NonFinite::NaN;
}

// A loss-like value: a number, or null (not finite; which kind the record says).
double lossValue(const QJsonObject& o, QLatin1String key, NonFinite* kind) {
    const QJsonValue v = o.value(key);
    if (v.isDouble()) return v.toDouble();
    if (v.isNull()) {
        const NonFinite k = nonFiniteKind(o);
        if (kind) *kind = k;
        return k == NonFinite::Inf ? std::numeric_limits<double>::infinity() : kNaN;
    }
    return kNaN; // absent
}

} // namespace

bool parseMetricsLine(const QByteArray& line, MetricsRecord* out, QString* error) {
    QJsonParseError err{};
    const QJsonDocument doc = QJsonDocument::fromJson(line, &err);
    if (err.error != QJsonParseError::NoError) {
        if (error) *error = err.errorString();
        return false;
    }
    if (!doc.isObject()) {
        if (error) *error = QStringLiteral("not a JSON object");
        return false;
    }
    const QJsonObject o = doc.object();
    const QJsonValue type = o.value(QLatin1String("type"));
    const QJsonValue step = o.value(QLatin1String("step"));
    if (!type.isString() || !step.isDouble()) {
        if (error) *error = QStringLiteral("no \"type\" string or no \"step\" number");
        return false;
    }
    MetricsRecord r;
    const QString t = type.toString();
    r.type = t == QLatin1String("step")         ? MetricsRecord::Type::Step
             : t == QLatin1String("eval")       ? MetricsRecord::Type::Eval
             : t == QLatin1String("checkpoint") ? MetricsRecord::Type::Checkpoint
                                                : MetricsRecord::Type::Other;
    r.step = static_cast<std::int64_t>(step.toDouble());
    r.time = number(o, QLatin1String("time"));
    r.elapsed = number(o, QLatin1String("elapsed"));
    NonFinite kind = NonFinite::None;
    r.loss = lossValue(o, QLatin1String("loss"), &kind);
    r.nonFinite = kind;
    NonFinite pplKind = NonFinite::None;
    r.ppl = lossValue(o, QLatin1String("ppl"), &pplKind);
    // exp() of a finite loss can overflow: that is not a non-finite loss.
    if (r.nonFinite == NonFinite::None && pplKind != NonFinite::None && std::isfinite(r.loss))
        r.ppl = std::numeric_limits<double>::infinity();
    r.lr = number(o, QLatin1String("lr"));
    r.gradNorm = number(o, QLatin1String("grad_norm"));
    r.samplesPerS = number(o, QLatin1String("samples_per_s"));
    r.tokensPerS = number(o, QLatin1String("tokens_per_s"));
    r.memoryMb = number(o, QLatin1String("memory_mb"));
    r.skipped = o.value(QLatin1String("skipped")).toBool(false);
    if (r.skipped && r.nonFinite == NonFinite::None && o.contains(QLatin1String("non_finite")))
        r.nonFinite = nonFiniteKind(o); // a finite loss with a non-finite gradient
    r.path = o.value(QLatin1String("path")).toString();
    r.worldSize = o.value(QLatin1String("world_size")).toInt(1);
    r.exchangeBytes = number(o, QLatin1String("exchange_bytes"));
    r.denseBytes = number(o, QLatin1String("dense_bytes"));
    r.shards = std::max(0, o.value(QLatin1String("shards")).toInt(0));
    r.replicas = std::max(0, o.value(QLatin1String("replicas")).toInt(0));
    const QJsonArray ranks = o.value(QLatin1String("ranks")).toArray();
    r.ranks.reserve(static_cast<std::size_t>(ranks.size()));
    for (const QJsonValue& v : ranks) {
        const QJsonObject ro = v.toObject();
        RankFigures f;
        f.rank = ro.value(QLatin1String("rank")).toInt(static_cast<int>(r.ranks.size()));
        if (f.rank < 0 || f.rank > 65535) continue;
        f.samplesPerS = number(ro, QLatin1String("samples_per_s"));
        f.tokensPerS = number(ro, QLatin1String("tokens_per_s"));
        f.memoryMb = number(ro, QLatin1String("memory_mb"));
        f.edgesPerS = number(ro, QLatin1String("edges_per_s"));
        f.candidateRows = number(ro, QLatin1String("candidate_rows"));
        f.edgeTableBytes = number(ro, QLatin1String("edge_table_bytes"));
        r.ranks.push_back(f);
    }
    *out = std::move(r);
    return true;
}

// ---- MetricsFollower --------------------------------------------------------------------

MetricsFollower::MetricsFollower(QString path) : m_path(std::move(path)) {}

void MetricsFollower::restart() {
    m_offset = 0;
    m_line = 0;
    m_partial.clear();
    m_firstLine.clear();
}

MetricsFollower::Chunk MetricsFollower::poll(qint64 maxBytes) {
    Chunk c;
    QFile f(m_path);
    if (!f.open(QIODevice::ReadOnly)) {
        c.missing = true;
        return c;
    }
    struct stat st {};
    if (::fstat(f.handle(), &st) != 0) {
        c.missing = true;
        return c;
    }
    const auto inode = static_cast<quint64>(st.st_ino);
    const auto device = static_cast<quint64>(st.st_dev);
    const auto size = static_cast<qint64>(st.st_size);

    bool replaced = m_known && (inode != m_inode || device != m_device);
    // Rewritten in place (same inode): the first line tells. Checked only when the file grew,
    // so an idle poll stays one fstat().
    if (!replaced && !m_firstLine.isEmpty() && size != m_offset) {
        const QByteArray head = f.read(m_firstLine.size() + 1);
        replaced = head != m_firstLine + '\n';
    }
    if (replaced || size < m_offset) {
        restart();
        c.reset = true;
    }
    m_inode = inode;
    m_device = device;
    m_known = true;
    if (size <= m_offset) return c;

    if (!f.seek(m_offset)) return c;
    QByteArray data = f.read(std::min(size - m_offset, std::max<qint64>(maxBytes, 1)));
    m_offset += data.size();
    c.bytesRead = data.size();
    c.more = m_offset < size;
    if (!m_partial.isEmpty()) data.prepend(m_partial);
    m_partial.clear();

    qsizetype start = 0;
    while (start < data.size()) {
        const qsizetype nl = data.indexOf('\n', start);
        if (nl < 0) {
            m_partial = data.mid(start);
            break;
        }
        qsizetype end = nl;
        if (end > start && data[end - 1] == '\r') --end;
        const QByteArray line = QByteArray::fromRawData(data.constData() + start, end - start);
        ++m_line;
        if (m_line == 1) m_firstLine = QByteArray(data.constData() + start, nl - start);
        if (!line.trimmed().isEmpty()) {
            MetricsRecord r;
            QString err;
            if (parseMetricsLine(line, &r, &err))
                c.records.push_back(std::move(r));
            else if (c.errors.size() < 100)
                c.errors << QStringLiteral("line %1: %2").arg(m_line).arg(err);
        }
        start = nl + 1;
    }
    return c;
}

// ---- RunSeries --------------------------------------------------------------------------

namespace {
template <class... V> void truncateAll(std::size_t n, V&... v) {
    (v.resize(std::min(n, v.size())), ...);
}
std::size_t firstAtOrAfter(const std::vector<double>& steps, double s) {
    return static_cast<std::size_t>(std::lower_bound(steps.begin(), steps.end(), s) - steps.begin());
}
} // namespace

void RunSeries::append(const MetricsRecord& r) {
    if (std::isnan(firstTime) && std::isfinite(r.time)) firstTime = r.time;
    const auto s = static_cast<double>(r.step);
    switch (r.type) {
    case MetricsRecord::Type::Step: {
        if (steps.size() && s <= steps.step.back()) {
            // A resumed run repeats steps after its checkpoint: the new records replace the old.
            const std::size_t n = firstAtOrAfter(steps.step, s);
            for (std::size_t i = n; i < steps.size(); ++i)
                if (steps.nonFinite[i] != NonFinite::None) --nonFiniteCount;
            auto& d = steps;
            truncateAll(n, d.step, d.time, d.elapsed, d.loss, d.ppl, d.lr, d.gradNorm, d.samplesPerS, d.tokensPerS,
                        d.memoryMb, d.nonFinite);
            const std::size_t ne = firstAtOrAfter(evals.step, s);
            truncateAll(ne, evals.step, evals.time, evals.elapsed, evals.loss, evals.ppl);
            for (auto& rk : ranks) {
                const std::size_t nr = firstAtOrAfter(rk.step, s);
                truncateAll(nr, rk.step, rk.time, rk.elapsed, rk.samplesPerS, rk.tokensPerS, rk.memoryMb,
                            rk.candidateRows, rk.edgeTableBytes);
            }
            while (!checkpointSteps.empty() && checkpointSteps.back() >= r.step)
                checkpointSteps.pop_back();
        }
        steps.step.push_back(s);
        steps.time.push_back(r.time);
        steps.elapsed.push_back(r.elapsed);
        steps.loss.push_back(r.loss);
        steps.ppl.push_back(r.ppl);
        steps.lr.push_back(r.lr);
        steps.gradNorm.push_back(r.gradNorm);
        steps.samplesPerS.push_back(r.samplesPerS);
        steps.tokensPerS.push_back(r.tokensPerS);
        steps.memoryMb.push_back(r.memoryMb);
        steps.nonFinite.push_back(r.nonFinite);
        if (r.nonFinite != NonFinite::None || !std::isfinite(r.loss)) {
            if (steps.nonFinite.back() == NonFinite::None)
                steps.nonFinite.back() = std::isinf(r.loss) ? NonFinite::Inf : NonFinite::NaN;
            ++nonFiniteCount;
        }
        worldSize = std::max(worldSize, r.worldSize);
        if (std::isfinite(r.exchangeBytes)) lastExchangeBytes = r.exchangeBytes;
        if (std::isfinite(r.denseBytes)) lastDenseBytes = r.denseBytes;
        for (const auto& f : r.ranks) {
            if (static_cast<std::size_t>(f.rank) >= ranks.size()) ranks.resize(static_cast<std::size_t>(f.rank) + 1);
            auto& rk = ranks[static_cast<std::size_t>(f.rank)];
            rk.step.push_back(s);
            rk.time.push_back(r.time);
            rk.elapsed.push_back(r.elapsed);
            rk.samplesPerS.push_back(f.samplesPerS);
            rk.tokensPerS.push_back(std::isfinite(f.tokensPerS) ? f.tokensPerS : f.edgesPerS);
            rk.memoryMb.push_back(f.memoryMb);
            rk.candidateRows.push_back(f.candidateRows);
            rk.edgeTableBytes.push_back(f.edgeTableBytes);
        }
        if (r.shards > 0) {
            shards = r.shards;
            replicas = std::max(1, r.replicas);
        }
        break;
    }
    case MetricsRecord::Type::Eval: {
        if (evals.size() && s <= evals.step.back())
            truncateAll(firstAtOrAfter(evals.step, s), evals.step, evals.time, evals.elapsed, evals.loss, evals.ppl);
        evals.step.push_back(s);
        evals.time.push_back(r.time);
        // Evals carry no `elapsed`: take the step record's (written just before).
        evals.elapsed.push_back(steps.size() && steps.step.back() == s ? steps.elapsed.back() : kNaN);
        evals.loss.push_back(r.loss);
        evals.ppl.push_back(r.ppl);
        break;
    }
    case MetricsRecord::Type::Checkpoint:
        checkpointSteps.push_back(r.step);
        break;
    case MetricsRecord::Type::Other:
        break;
    }
}

// ---- MetricsStream ----------------------------------------------------------------------

MetricsStream::MetricsStream(const QString& metricsPath, QObject* parent)
    : QObject(parent), m_path(metricsPath), m_follower(new MetricsFollower(metricsPath)), m_timer(new QTimer(this)) {
    m_timer->setInterval(1000);
    connect(m_timer, &QTimer::timeout, this, &MetricsStream::pollNow);
    connect(&m_watcher, &QFutureWatcher<MetricsFollower::Chunk>::finished, this, &MetricsStream::onPolled);
}

MetricsStream::~MetricsStream() {
    m_stopping = true;
    m_watcher.waitForFinished(); // a poll reads at most one bounded chunk
    delete m_follower;
}

void MetricsStream::setInterval(int ms) {
    m_timer->setInterval(std::max(ms, 10));
}

void MetricsStream::start() {
    m_lastData.start();
    m_timer->start();
    pollNow();
}

void MetricsStream::stop() {
    m_timer->stop();
}

void MetricsStream::pollNow() {
    if (m_inFlight || m_stopping) return;
    m_inFlight = true;
    MetricsFollower* f = m_follower;
    m_watcher.setFuture(QtConcurrent::run([f] { return f->poll(); }));
}

void MetricsStream::onPolled() {
    m_inFlight = false;
    if (m_stopping) return;
    MetricsFollower::Chunk c = m_watcher.result();
    if (c.missing != m_missing) {
        m_missing = c.missing;
        Q_EMIT missingChanged(m_missing);
    }
    if (c.reset) {
        m_lines = 0;
        m_bytes = 0;
        m_loading = true;
        Q_EMIT reset();
    }
    if (c.bytesRead > 0) {
        m_lastData.restart();
        m_bytes += c.bytesRead;
    }
    m_lines = m_follower->linesRead();
    if (!c.errors.isEmpty()) Q_EMIT parseErrors(c.errors);
    if (!c.records.empty()) Q_EMIT recordsAvailable(c.records);
    if (c.more) {
        QTimer::singleShot(0, this, &MetricsStream::pollNow); // the backlog, one chunk per turn
    } else if (m_loading) {
        m_loading = false;
        Q_EMIT caughtUp();
    }
}

} // namespace brillm::viz
