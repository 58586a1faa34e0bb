// SPDX-License-Identifier: GPL-3.0-or-later
// The training monitor: metrics parsing, the follower against a file that another thread
// appends to (partial lines, truncation, replacement), downsampling against a brute-force
// computation, EMA against a hand computation, alerts, the widget on a fixture run, and the
// trainer process (a fake trainer that crashes; a real tiny `brillm train` stopped and resumed).
#include "monitor/curve_downsample.h"
#include "monitor/metrics_stream.h"
#include "monitor/training_alerts.h"
#include "monitor/training_monitor.h"
#include "monitor/training_process.h"
#include "studio/main_window.h"

#include <qcustomplot.h>

#include <QDir>
#include <QDockWidget>
#include <QElapsedTimer>
#include <QFile>
#include <QListWidget>
#include <QMenuBar>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <thread>

using namespace brillm::viz;

namespace {

std::string stepLine(std::int64_t step, double loss, double time = 1.7e9, const char* extra = "") {
    char buf[2048];
    if (std::isfinite(loss))
        std::snprintf(buf, sizeof buf,
                      R"({"type":"step","step":%lld,"time":%.3f,"elapsed":%.3f,"loss":%.6f,"ppl":%.6f,"lr":0.05,)"
                      R"("grad_norm":1.5,"samples_per_s":120.5,"tokens_per_s":3800,"memory_mb":512,"skipped":false%s})",
                      static_cast<long long>(step), time, time - 1.7e9, loss, std::exp(loss), extra);
    else
        std::snprintf(
            buf, sizeof buf,
            R"({"type":"step","step":%lld,"time":%.3f,"elapsed":%.3f,"loss":null,"ppl":null,"lr":0.05,)"
            R"("grad_norm":null,"samples_per_s":120.5,"tokens_per_s":3800,"memory_mb":512,"skipped":true,"non_finite":"%s"%s})",
            static_cast<long long>(step), time, time - 1.7e9, std::isnan(loss) ? "nan" : "inf", extra);
    return buf;
}

std::string evalLine(std::int64_t step, double loss, double time = 1.7e9) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  R"({"type":"eval","step":%lld,"time":%.3f,"loss":%.6f,"ppl":%.6f,"sequences":64,"edges":1900})",
                  static_cast<long long>(step), time, loss, std::exp(loss));
    return buf;
}

void writeFile(const QString& path, const std::string& text, bool append = false) {
    QFile f(path);
    ASSERT_TRUE(f.open(append ? QIODevice::Append : QIODevice::WriteOnly | QIODevice::Truncate));
    f.write(text.data(), static_cast<qint64>(text.size()));
}

// A plausible loss curve: decay plus deterministic noise.
double fixtureLoss(std::int64_t s) {
    return 2.0 + 5.0 * std::exp(-static_cast<double>(s) / 80.0) + 0.08 * std::sin(static_cast<double>(s) * 1.7);
}

// A run directory: config.json and metrics.jsonl with `steps` steps, eval every 50, NaN steps
// at nanSteps, and per-rank figures when ranks > 1.
void writeFixtureRun(const QString& dir, int steps, std::set<int> nanSteps = {}, int ranks = 1,
                     std::set<int> spikes = {}) {
    QDir().mkpath(dir);
    writeFile(QDir(dir).filePath(QStringLiteral("config.json")), "{\"steps\": " + std::to_string(steps) + "}\n");
    std::string text;
    for (int s = 1; s <= steps; ++s) {
        std::string extra;
        if (ranks > 1) {
            extra = ",\"world_size\":" + std::to_string(ranks) +
                    ",\"exchange_bytes\":2.5e6,\"dense_bytes\":8.0e7,\"ranks\":[";
            for (int r = 0; r < ranks; ++r) {
                char buf[160];
                std::snprintf(buf, sizeof buf, R"(%s{"rank":%d,"samples_per_s":%d,"tokens_per_s":%d,"memory_mb":%d})",
                              r ? "," : "", r, 100 + 5 * r, 3000 + 200 * r + (s % 7) * 10, 400 + r);
                extra += buf;
            }
            extra += "]";
        }
        const double loss = nanSteps.count(s) ? std::nan("") : spikes.count(s) ? 40.0 : fixtureLoss(s);
        text += stepLine(s, loss, 1.7e9 + s * 0.5, extra.c_str()) + "\n";
        if (s % 50 == 0) text += evalLine(s, fixtureLoss(s) + 0.3, 1.7e9 + s * 0.5 + 0.1) + "\n";
        if (s % 100 == 0)
            text += R"({"type":"checkpoint","step":)" + std::to_string(s) + R"(,"time":1.7e9,"path":"x"})" + "\n";
    }
    writeFile(QDir(dir).filePath(QStringLiteral("metrics.jsonl")), text);
}

QCPGraph* graphNamed(QCustomPlot* p, const QString& name) {
    for (int i = 0; i < p->graphCount(); ++i)
        if (p->graph(i)->objectName() == name) return p->graph(i);
    return nullptr;
}

} // namespace

// ---- parsing ----------------------------------------------------------------------------

TEST(MetricsParse, StepEvalCheckpointAndUnknownKeys) {
    MetricsRecord r;
    QString err;
    ASSERT_TRUE(
        parseMetricsLine(QByteArray::fromStdString(stepLine(7, 3.5, 1.7e9, ",\"future_key\":{\"a\":[1,2]}")), &r, &err))
        << err.toStdString();
    EXPECT_EQ(r.type, MetricsRecord::Type::Step);
    EXPECT_EQ(r.step, 7);
    EXPECT_DOUBLE_EQ(r.loss, 3.5);
    EXPECT_NEAR(r.ppl, std::exp(3.5), 1e-3);
    EXPECT_DOUBLE_EQ(r.samplesPerS, 120.5);
    EXPECT_DOUBLE_EQ(r.memoryMb, 512);
    EXPECT_EQ(r.nonFinite, NonFinite::None);
    EXPECT_FALSE(r.skipped);

    ASSERT_TRUE(parseMetricsLine(QByteArray::fromStdString(stepLine(8, std::nan(""))), &r, &err));
    EXPECT_TRUE(std::isnan(r.loss));
    EXPECT_EQ(r.nonFinite, NonFinite::NaN);
    EXPECT_TRUE(r.skipped);
    ASSERT_TRUE(parseMetricsLine(QByteArray::fromStdString(stepLine(9, INFINITY)), &r, &err));
    EXPECT_TRUE(std::isinf(r.loss));
    EXPECT_EQ(r.nonFinite, NonFinite::Inf);

    ASSERT_TRUE(parseMetricsLine(QByteArray::fromStdString(evalLine(50, 2.25)), &r, &err));
    EXPECT_EQ(r.type, MetricsRecord::Type::Eval);
    EXPECT_DOUBLE_EQ(r.loss, 2.25);
    ASSERT_TRUE(parseMetricsLine(R"({"type":"checkpoint","step":100,"time":1.0,"path":"/r/step-100"})", &r, &err));
    EXPECT_EQ(r.type, MetricsRecord::Type::Checkpoint);
    EXPECT_EQ(r.path, QStringLiteral("/r/step-100"));
    ASSERT_TRUE(parseMetricsLine(R"({"type":"something_new","step":3})", &r, &err));
    EXPECT_EQ(r.type, MetricsRecord::Type::Other);

    ASSERT_TRUE(
        parseMetricsLine(R"({"type":"step","step":5,"loss":1.0,"world_size":2,"exchange_bytes":1e6,"dense_bytes":4e6,)"
                         R"("ranks":[{"rank":0,"samples_per_s":10,"tokens_per_s":300,"memory_mb":100},)"
                         R"({"rank":1,"samples_per_s":11,"tokens_per_s":310}]})",
                         &r, &err));
    EXPECT_EQ(r.worldSize, 2);
    ASSERT_EQ(r.ranks.size(), 2u);
    EXPECT_EQ(r.ranks[1].rank, 1);
    EXPECT_DOUBLE_EQ(r.ranks[1].tokensPerS, 310);
    EXPECT_TRUE(std::isnan(r.ranks[1].memoryMb));
    EXPECT_DOUBLE_EQ(r.exchangeBytes, 1e6);

    for (const char* bad : {"{\"type\":\"step\",\"step\":", "not json", "[1,2]", "{\"step\":3}", "{\"type\":\"step\"}"})
        EXPECT_FALSE(parseMetricsLine(bad, &r, &err)) << bad;
}

// ---- the follower -----------------------------------------------------------------------

TEST(MetricsFollower, LinesSplitAtEveryBytePosition) {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("metrics.jsonl"));
    std::string text;
    for (int s = 1; s <= 6; ++s)
        text += stepLine(s, 5.0 - s * 0.1) + "\n";
    text += "garbage that is not json\n";
    text += evalLine(6, 4.0) + "\r\n";
    // Every split of the text into two writes gives the same records.
    for (std::size_t cut = 0; cut <= text.size(); cut += 7) {
        writeFile(path, text.substr(0, cut));
        MetricsFollower f(path);
        auto a = f.poll();
        writeFile(path, text.substr(cut), true);
        auto b = f.poll();
        EXPECT_FALSE(b.reset) << cut;
        std::vector<MetricsRecord> all = a.records;
        all.insert(all.end(), b.records.begin(), b.records.end());
        ASSERT_EQ(all.size(), 7u) << "cut at " << cut;
        for (int s = 1; s <= 6; ++s)
            EXPECT_EQ(all[static_cast<std::size_t>(s - 1)].step, s);
        EXPECT_EQ(all[6].type, MetricsRecord::Type::Eval);
        EXPECT_EQ(a.errors.size() + b.errors.size(), 1) << cut;
        EXPECT_TRUE((a.errors + b.errors).first().startsWith(QStringLiteral("line 7:")));
        EXPECT_EQ(f.offset(), static_cast<qint64>(text.size()));
    }
    // A partial last line waits for its newline.
    writeFile(path, stepLine(1, 1.0) + "\n" + stepLine(2, 2.0).substr(0, 20));
    MetricsFollower f(path);
    EXPECT_EQ(f.poll().records.size(), 1u);
    EXPECT_EQ(f.poll().records.size(), 0u);
    writeFile(path, stepLine(2, 2.0).substr(20) + "\n", true);
    const auto c = f.poll();
    ASSERT_EQ(c.records.size(), 1u);
    EXPECT_EQ(c.records[0].step, 2);
    EXPECT_DOUBLE_EQ(c.records[0].loss, 2.0);
}

TEST(MetricsFollower, BoundedChunksTruncationAndReplacement) {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("metrics.jsonl"));
    MetricsFollower f(path);
    EXPECT_TRUE(f.poll().missing);
    std::string text;
    for (int s = 1; s <= 100; ++s)
        text += stepLine(s, 1.0) + "\n";
    writeFile(path, text);
    // At most 1000 bytes per poll: several polls, each record once.
    std::vector<std::int64_t> steps;
    int polls = 0;
    for (;;) {
        auto c = f.poll(1000);
        ++polls;
        for (auto& r : c.records)
            steps.push_back(r.step);
        if (!c.more) break;
    }
    EXPECT_GT(polls, 10);
    ASSERT_EQ(steps.size(), 100u);
    for (std::size_t i = 0; i < steps.size(); ++i)
        EXPECT_EQ(steps[i], static_cast<std::int64_t>(i) + 1);
    EXPECT_FALSE(f.poll().reset);

    // Truncated (a new run in the same place, shorter than what was read).
    writeFile(path, stepLine(1, 9.0) + "\n");
    auto c = f.poll();
    EXPECT_TRUE(c.reset);
    ASSERT_EQ(c.records.size(), 1u);
    EXPECT_DOUBLE_EQ(c.records[0].loss, 9.0);

    // Replaced by another file (rename over it): another inode.
    const QString other = dir.filePath(QStringLiteral("new.jsonl"));
    writeFile(other, stepLine(1, 7.0) + "\n" + stepLine(2, 6.0) + "\n");
    ASSERT_EQ(std::rename(other.toLocal8Bit().constData(), path.toLocal8Bit().constData()), 0);
    c = f.poll();
    EXPECT_TRUE(c.reset);
    ASSERT_EQ(c.records.size(), 2u);
    EXPECT_DOUBLE_EQ(c.records[0].loss, 7.0);

    // Rewritten in place (same inode), longer than before: the first line differs.
    writeFile(path, stepLine(1, 3.0, 1.8e9) + "\n" + stepLine(2, 3.0) + "\n" + stepLine(3, 3.0) + "\n");
    c = f.poll();
    EXPECT_TRUE(c.reset);
    EXPECT_EQ(c.records.size(), 3u);
    // Plain growth is no reset.
    writeFile(path, stepLine(4, 3.0) + "\n", true);
    c = f.poll();
    EXPECT_FALSE(c.reset);
    EXPECT_EQ(c.records.size(), 1u);
}

// MetricsStream (timer + thread pool) against a writer thread that appends lines in random
// pieces, then truncates, then replaces the file.
TEST(MetricsStream, FollowsAFileAnotherThreadWrites) {
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("metrics.jsonl"));
    MetricsStream stream(path);
    stream.setInterval(5);
    RunSeries series;
    int resets = 0;
    QStringList errors;
    QObject::connect(&stream, &MetricsStream::recordsAvailable, [&](const std::vector<MetricsRecord>& rs) {
        for (const auto& r : rs)
            series.append(r);
    });
    QObject::connect(&stream, &MetricsStream::reset, [&] {
        ++resets;
        series.clear();
    });
    QObject::connect(&stream, &MetricsStream::parseErrors, [&](const QStringList& e) { errors << e; });
    stream.start();

    constexpr int kLines = 2000;
    std::atomic<int> phase{0};
    std::thread writer([&] {
        std::mt19937 rng(42);
        std::string text;
        for (int s = 1; s <= kLines; ++s) {
            text += stepLine(s, 5.0 - s * 1e-3) + "\n";
            if (s == 700) text += "{\"type\":\"step\",\"broken\n"; // a garbage line, reported
        }
        FILE* f = std::fopen(path.toLocal8Bit().constData(), "ab");
        std::size_t pos = 0;
        while (pos < text.size()) {
            const std::size_t n = std::min<std::size_t>(text.size() - pos, 1 + rng() % 700);
            std::fwrite(text.data() + pos, 1, n, f);
            std::fflush(f);
            pos += n;
            if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
        }
        std::fclose(f);
        while (phase.load() < 1)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        // Truncate and start over (a new run in the same place).
        f = std::fopen(path.toLocal8Bit().constData(), "wb");
        for (int s = 1; s <= 50; ++s)
            std::fprintf(f, "%s\n", stepLine(s, 8.0).c_str());
        std::fclose(f);
        while (phase.load() < 2)
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        // Replace by a new file, longer than the old one.
        const std::string tmp = path.toStdString() + ".tmp";
        f = std::fopen(tmp.c_str(), "wb");
        for (int s = 1; s <= 300; ++s)
            std::fprintf(f, "%s\n", stepLine(s, 6.0, 1.9e9).c_str());
        std::fclose(f);
        std::rename(tmp.c_str(), path.toLocal8Bit().constData());
    });
    EXPECT_TRUE(QTest::qWaitFor([&] { return series.steps.size() == static_cast<std::size_t>(kLines); }, 20000));
    ASSERT_EQ(series.steps.size(), static_cast<std::size_t>(kLines));
    for (int i = 0; i < kLines; ++i)
        ASSERT_EQ(series.steps.step[static_cast<std::size_t>(i)], i + 1);
    EXPECT_EQ(resets, 0);
    ASSERT_EQ(errors.size(), 1);
    EXPECT_TRUE(errors.first().startsWith(QStringLiteral("line 701:"))) << errors.first().toStdString();

    phase = 1;
    EXPECT_TRUE(QTest::qWaitFor([&] { return resets == 1 && series.steps.size() == 50; }, 10000));
    EXPECT_DOUBLE_EQ(series.steps.loss.back(), 8.0);
    phase = 2;
    EXPECT_TRUE(QTest::qWaitFor([&] { return resets == 2 && series.steps.size() == 300; }, 10000));
    EXPECT_DOUBLE_EQ(series.steps.loss.back(), 6.0);
    writer.join();
}

TEST(RunSeries, ResumedRunReplacesTheAbandonedTail) {
    RunSeries s;
    MetricsRecord r;
    r.type = MetricsRecord::Type::Step;
    for (int i = 1; i <= 10; ++i) {
        r.step = i;
        r.loss = i;
        s.append(r);
    }
    r.step = 7; // resumed from the checkpoint at 6
    r.loss = 70;
    s.append(r);
    ASSERT_EQ(s.steps.size(), 7u);
    EXPECT_EQ(s.steps.step.back(), 7);
    EXPECT_EQ(s.steps.loss.back(), 70);
    EXPECT_EQ(s.steps.loss[5], 6);
}

// ---- curves -----------------------------------------------------------------------------

TEST(CurveDownsample, KeepsSpikesAndNaNsLikeBruteForce) {
    std::mt19937 rng(7);
    std::normal_distribution<double> noise(0, 0.05);
    const int n = 100000;
    std::vector<double> x(n), y(n);
    for (int i = 0; i < n; ++i) {
        x[static_cast<std::size_t>(i)] = i * 0.5 + 3;
        y[static_cast<std::size_t>(i)] = 2 + std::exp(-i / 20000.0) + noise(rng);
    }
    for (int i : {12345, 54321, 99998})
        y[static_cast<std::size_t>(i)] = 50 + i * 1e-4; // spikes
    for (int i : {222, 40000, 40001, 77777})
        y[static_cast<std::size_t>(i)] = std::nan("");
    y[60000] = INFINITY;
    const int columns = 640;
    for (auto [xmin, xmax] : {std::pair{3.0, 3 + 0.5 * (n - 1)}, std::pair{10000.0, 30000.0}}) {
        const DownsampledCurve d = minMaxDownsample(x, y, xmin, xmax, columns);
        EXPECT_LE(d.line.size(), static_cast<std::size_t>(5 * columns + 2));
        // Brute force: per column the finite min and max, and whether it holds a non-finite.
        std::map<int, std::pair<double, double>> minmax;
        std::set<int> bad;
        for (int i = 0; i < n; ++i) {
            const double xi = x[static_cast<std::size_t>(i)], yi = y[static_cast<std::size_t>(i)];
            if (xi < xmin || xi > xmax) continue;
            const int col = std::min(columns - 1, static_cast<int>((xi - xmin) / (xmax - xmin) * columns));
            if (!std::isfinite(yi)) {
                bad.insert(col);
                continue;
            }
            auto [it, fresh] = minmax.try_emplace(col, yi, yi);
            if (!fresh) it->second = {std::min(it->second.first, yi), std::max(it->second.second, yi)};
        }
        std::map<int, std::pair<double, double>> got;
        for (std::size_t i = 0; i < d.line.size(); ++i) {
            const double xi = d.line.x[i], yi = d.line.y[i];
            if (xi < xmin || xi > xmax || !std::isfinite(yi)) continue;
            const int col = std::min(columns - 1, static_cast<int>((xi - xmin) / (xmax - xmin) * columns));
            auto [it, fresh] = got.try_emplace(col, yi, yi);
            if (!fresh) it->second = {std::min(it->second.first, yi), std::max(it->second.second, yi)};
        }
        EXPECT_EQ(got, minmax);
        std::set<int> markedCols;
        for (double xi : d.nanX)
            markedCols.insert(std::min(columns - 1, static_cast<int>((xi - xmin) / (xmax - xmin) * columns)));
        EXPECT_EQ(markedCols, bad);
        EXPECT_EQ(d.nanX.size(), bad.size());
        // x ascending (QCustomPlot takes it as sorted).
        EXPECT_TRUE(std::is_sorted(d.line.x.begin(), d.line.x.end()));
    }
    // The whole range: the spikes are there, the Inf is marked as Inf at the last finite value.
    const DownsampledCurve d = minMaxDownsample(x, y, 3, 3 + 0.5 * (n - 1), columns);
    for (int i : {12345, 54321, 99998})
        EXPECT_NE(std::find(d.line.y.begin(), d.line.y.end(), y[static_cast<std::size_t>(i)]), d.line.y.end());
    const auto inf = std::find(d.nanX.begin(), d.nanX.end(), x[60000]);
    ASSERT_NE(inf, d.nanX.end());
    const auto k = static_cast<std::size_t>(inf - d.nanX.begin());
    EXPECT_TRUE(d.nanIsInf[k]);
    EXPECT_DOUBLE_EQ(d.nanY[k], y[59999]);
    // Few points: all kept.
    const DownsampledCurve small = minMaxDownsample({1, 2, 3}, {1, std::nan(""), 3}, 1, 3, 100);
    EXPECT_EQ(small.line.size(), 3u);
    ASSERT_EQ(small.nanX.size(), 1u);
    EXPECT_DOUBLE_EQ(small.nanY[0], 1);
}

TEST(CurveDownsample, EmaByHand) {
    const double nan = std::nan("");
    const auto s = emaSmooth({1, 2, nan, 4, 6}, 0.5);
    ASSERT_EQ(s.size(), 5u);
    EXPECT_DOUBLE_EQ(s[0], 1.0);         // 0.5 / (1 - 0.5)
    EXPECT_DOUBLE_EQ(s[1], 1.25 / 0.75); // (0.25 + 1) / (1 - 0.25)
    EXPECT_TRUE(std::isnan(s[2]));
    EXPECT_DOUBLE_EQ(s[3], 4.0); // restarted after the NaN
    EXPECT_DOUBLE_EQ(s[4], (0.5 * 2 + 0.5 * 6) / 0.75);
    const auto off = emaSmooth({3, 1, 4}, 0);
    EXPECT_EQ(off, (std::vector<double>{3, 1, 4}));
}

TEST(CurveDownsample, SpikeDetection) {
    std::vector<double> y;
    for (int i = 0; i < 400; ++i)
        y.push_back(3.0 + 0.05 * std::sin(i * 0.9) + (i == 250 ? 6.0 : 0.0));
    EXPECT_EQ(detectSpikes(y, 100, 6.0), std::vector<std::size_t>{250});
    y[300] = std::nan(""); // ignored
    EXPECT_EQ(detectSpikes(y, 100, 6.0), std::vector<std::size_t>{250});
    EXPECT_TRUE(detectSpikes(y, 100, 200.0).empty());
}

// ---- alerts -----------------------------------------------------------------------------

TEST(TrainingAlerts, NaNSpikeAndStall) {
    AlertSettings s;
    s.stallSeconds = 0.05;
    s.spikeSigmas = 6;
    AlertEngine e(QStringLiteral("run"), s);
    MetricsRecord r;
    r.type = MetricsRecord::Type::Step;
    std::vector<TrainingAlert> all;
    auto push = [&](std::int64_t step, double loss) {
        r.step = step;
        r.loss = loss;
        r.nonFinite = std::isfinite(loss) ? NonFinite::None : NonFinite::NaN;
        for (auto& a : e.onRecord(r))
            all.push_back(a);
    };
    for (int i = 1; i <= 100; ++i)
        push(i, 3.0 + 0.01 * (i % 5));
    EXPECT_TRUE(all.empty());
    push(101, std::nan(""));
    push(102, std::nan("")); // the same episode: no second alert
    push(103, 3.0);
    push(104, std::nan("")); // a new episode
    push(105, 30.0);         // a spike
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(all[0].kind, TrainingAlert::Kind::NonFinite);
    EXPECT_EQ(all[0].step, 101);
    EXPECT_EQ(all[1].step, 104);
    EXPECT_EQ(all[2].kind, TrainingAlert::Kind::Spike);
    EXPECT_EQ(all[2].step, 105);

    EXPECT_FALSE(e.checkStall(0.01, false));
    auto stall = e.checkStall(0.2, false);
    ASSERT_TRUE(stall);
    EXPECT_EQ(stall->kind, TrainingAlert::Kind::Stall);
    EXPECT_FALSE(e.checkStall(0.5, false)); // once per silence
    push(106, 3.0);
    EXPECT_TRUE(e.checkStall(0.2, false)); // re-armed by new data
    push(107, 3.0);
    EXPECT_FALSE(e.checkStall(100, true)); // finished runs do not stall
}

// ---- the widget -------------------------------------------------------------------------

TEST(TrainingMonitor, ShowsAFixtureRun) {
    QTemporaryDir dir;
    const QString a = dir.filePath(QStringLiteral("run-a")), b = dir.filePath(QStringLiteral("run-b"));
    writeFixtureRun(a, 300, {150, 151}, 1, {220});
    writeFixtureRun(b, 200, {}, 4);
    TrainingMonitor m;
    m.resize(1400, 900);
    m.setPollInterval(20);
    m.setSmoothingEnabled(true);
    m.setSmoothing(0.6);
    m.setXMode(TrainingMonitor::XMode::Step);
    m.setLogY(false);
    m.setMetric(TrainingMonitor::Metric::Loss);
    m.show();
    QSignalSpy caught(&m, &TrainingMonitor::caughtUp);
    EXPECT_EQ(m.addRun(a), 0);
    EXPECT_EQ(m.addRun(b), 1);
    EXPECT_EQ(m.addRun(a + QStringLiteral("/metrics.jsonl")), 0); // not twice
    ASSERT_TRUE(QTest::qWaitFor([&] { return !m.isLoading(); }, 10000));
    m.replotNow();

    EXPECT_EQ(m.series(0).steps.size(), 300u);
    EXPECT_EQ(m.series(0).evals.size(), 6u);
    EXPECT_EQ(m.series(0).nonFiniteCount, 2);
    EXPECT_EQ(m.series(1).ranks.size(), 4u);
    EXPECT_EQ(m.runState(0), TrainingMonitor::RunState::Finished);
    EXPECT_NE(m.runStatusText(0).indexOf(QStringLiteral("step 300/300")), -1) << m.runStatusText(0).toStdString();

    QCustomPlot* loss = m.lossPlot();
    // Run a: raw, smoothed, held-out, NaN markers; run b: raw, smoothed, held-out.
    EXPECT_EQ(loss->graphCount(), 7);
    QCPGraph* raw = graphNamed(loss, QStringLiteral("raw:run-a"));
    ASSERT_TRUE(raw);
    EXPECT_EQ(raw->data()->size(), 300); // fewer points than pixels: all of them
    ASSERT_TRUE(graphNamed(loss, QStringLiteral("smooth:run-a")));
    EXPECT_EQ(graphNamed(loss, QStringLiteral("smooth:run-a"))->data()->size(), 300);
    ASSERT_TRUE(graphNamed(loss, QStringLiteral("eval:run-a")));
    EXPECT_EQ(graphNamed(loss, QStringLiteral("eval:run-a"))->data()->size(), 6);
    QCPGraph* nan = graphNamed(loss, QStringLiteral("nonfinite:run-a"));
    ASSERT_TRUE(nan);
    EXPECT_EQ(nan->data()->size(), 2);
    EXPECT_DOUBLE_EQ(nan->data()->at(0)->key, 150);
    EXPECT_NEAR(nan->data()->at(0)->value, fixtureLoss(149), 1e-5); // on the curve
    EXPECT_FALSE(graphNamed(loss, QStringLiteral("nonfinite:run-b")));
    EXPECT_EQ(m.throughputPlot()->graphCount(), 2);
    EXPECT_EQ(m.memoryPlot()->graphCount(), 2);
    EXPECT_EQ(m.rankPlot()->graphCount(), 4);
    EXPECT_EQ(m.rankPlot()->graph(3)->data()->size(), 200);

    // Alerts from the history: run a's NaN (once for the two steps) and its spike.
    int nanAlerts = 0, spikes = 0;
    for (const auto& al : m.alerts()) {
        nanAlerts += al.kind == TrainingAlert::Kind::NonFinite;
        spikes += al.kind == TrainingAlert::Kind::Spike;
    }
    EXPECT_EQ(nanAlerts, 1);
    EXPECT_EQ(spikes, 1);

    // Smoothing off: only the raw curve (in the legend under the run's name).
    m.setSmoothingEnabled(false);
    m.replotNow();
    EXPECT_EQ(loss->graphCount(), 5);
    EXPECT_FALSE(graphNamed(loss, QStringLiteral("smooth:run-a")));
    // Hidden run.
    m.setLogY(true);
    m.setXMode(TrainingMonitor::XMode::Relative);
    m.replotNow();
    EXPECT_EQ(loss->yAxis->scaleType(), QCPAxis::stLogarithmic);
    EXPECT_NEAR(loss->xAxis->range().upper, 150, 5); // 300 steps of 0.5 s
    m.setXMode(TrainingMonitor::XMode::WallTime);
    m.replotNow();
    EXPECT_GT(loss->xAxis->range().lower, 1.6e9);

    // The picture has the run colours in it.
    m.setXMode(TrainingMonitor::XMode::Step);
    m.setLogY(false);
    m.setSmoothingEnabled(true);
    m.replotNow();
    loss->replot();
    const QImage img = loss->toPixmap(800, 500).toImage();
    int runA = 0, runB = 0;
    for (int y = 0; y < img.height(); ++y)
        for (int x = 0; x < img.width(); ++x) {
            const QColor c = img.pixelColor(x, y);
            runA += c == m.runColor(0);
            runB += c == m.runColor(1);
        }
    EXPECT_GT(runA, 200);
    EXPECT_GT(runB, 200);
}

// A --shard-edges run: its ranks report edges evaluated per second (their tokens/s), the candidate
// rows of the step (their work) and their edge rows; the panel plots the first and sums up the rest.
TEST(TrainingMonitor, ShowsTheRanksOfAShardedRun) {
    QTemporaryDir dir;
    const QString run = dir.filePath(QStringLiteral("sharded"));
    QDir().mkpath(run);
    writeFile(QDir(run).filePath(QStringLiteral("config.json")), "{\"steps\": 20}\n");
    std::string text;
    const double rows[4] = {400, 200, 100, 100}, bytes[4] = {55.1e6, 55.0e6, 68.6e6, 54.8e6};
    for (int s = 1; s <= 20; ++s) {
        std::string extra = R"(,"world_size":4,"shards":4,"replicas":1,"exchange_bytes":2.6e5,"ranks":[)";
        for (int r = 0; r < 4; ++r) {
            char buf[256];
            std::snprintf(buf, sizeof buf,
                          R"(%s{"rank":%d,"samples_per_s":8,"memory_mb":300,"edges_per_s":%d,"candidate_rows":%.0f,)"
                          R"("edge_table_bytes":%.0f,"exchange_bytes":266124})",
                          r ? "," : "", r, 1000 + 100 * r + s, rows[r], bytes[r]);
            extra += buf;
        }
        extra += "]";
        text += stepLine(s, fixtureLoss(s), 1.7e9 + s, extra.c_str()) + "\n";
    }
    writeFile(QDir(run).filePath(QStringLiteral("metrics.jsonl")), text);

    TrainingMonitor m;
    m.resize(1200, 800);
    m.show();
    EXPECT_EQ(m.addRun(run), 0);
    ASSERT_TRUE(QTest::qWaitFor([&] { return !m.isLoading(); }, 10000));
    m.replotNow();
    const auto& series = m.series(0);
    EXPECT_EQ(series.shards, 4);
    EXPECT_EQ(series.replicas, 1);
    ASSERT_EQ(series.ranks.size(), 4u);
    EXPECT_DOUBLE_EQ(series.ranks[2].tokensPerS.back(), 1000 + 200 + 20); // edges_per_s
    EXPECT_DOUBLE_EQ(series.ranks[0].candidateRows.back(), 400);
    ASSERT_EQ(m.rankPlot()->graphCount(), 4);
    EXPECT_EQ(m.rankPlot()->graph(1)->data()->size(), 20);
    EXPECT_DOUBLE_EQ(m.rankPlot()->graph(1)->data()->at(19)->value, 1120);
    EXPECT_NE(m.rankPlot()->yAxis->label().indexOf(QStringLiteral("edges evaluated/s")), -1);
    // the largest rank's work over the mean: 400 / 200
    const QString summary = m.rankSummaryText();
    EXPECT_NE(summary.indexOf(QStringLiteral("4 shards: work largest/mean 2.00")), -1) << summary.toStdString();
    EXPECT_NE(summary.indexOf(QStringLiteral("edge rows up to 68.6 MB a rank")), -1) << summary.toStdString();
}

// The studio's window has the Training dock and menu, and the monitor exports as a view.
TEST(TrainingMonitor, InTheMainWindow) {
    StudioOptions o;
    o.noDemo = true;
    MainWindow w(o);
    ASSERT_TRUE(w.trainingMonitor());
    bool dock = false;
    for (QDockWidget* d : w.docks())
        dock |= d->objectName() == QStringLiteral("dock.training") && d->widget() == w.trainingMonitor();
    EXPECT_TRUE(dock);
    QStringList menus;
    for (QAction* a : w.menuBar()->actions())
        menus << a->text().remove(QLatin1Char('&'));
    EXPECT_TRUE(menus.contains(QStringLiteral("Training"))) << menus.join(QLatin1Char(',')).toStdString();
    bool exportable = false;
    for (const auto& [d, v] : w.exportableViews())
        exportable |= v->exportName() == QStringLiteral("training-monitor");
    EXPECT_TRUE(exportable);
}

// Not a check: writes the documentation's screenshot when BRILLM_MONITOR_SCREENSHOT names a
// PNG; BRILLM_MONITOR_RUNS (run directories separated by ':') replaces the fixture runs.
TEST(TrainingMonitor, Screenshot) {
    const QString out = qEnvironmentVariable("BRILLM_MONITOR_SCREENSHOT");
    if (out.isEmpty()) GTEST_SKIP() << "BRILLM_MONITOR_SCREENSHOT not set";
    QTemporaryDir dir;
    QStringList runs = qEnvironmentVariable("BRILLM_MONITOR_RUNS").split(QLatin1Char(':'), Qt::SkipEmptyParts);
    if (runs.isEmpty()) {
        runs = {dir.filePath(QStringLiteral("run-a")), dir.filePath(QStringLiteral("run-b"))};
        writeFixtureRun(runs[0], 300, {150}, 1, {220});
        writeFixtureRun(runs[1], 300, {}, 4);
    }
    TrainingMonitor m;
    m.resize(1500, 900);
    m.setSmoothingEnabled(true);
    m.setSmoothing(0.8);
    m.setLogY(true);
    m.setXMode(TrainingMonitor::XMode::Step);
    m.setMetric(TrainingMonitor::Metric::Loss);
    m.setAlertSettings(AlertSettings{});
    m.show();
    for (const QString& r : runs)
        m.addRun(r);
    ASSERT_TRUE(QTest::qWaitFor([&] { return !m.isLoading(); }, 20000));
    m.replotNow();
    QTest::qWait(300);
    ASSERT_TRUE(m.grab().save(out));
}

// A large file loads in chunks off the UI thread; the loss plot then holds at most a few
// points per pixel column, spikes included.
TEST(TrainingMonitor, LargeFileLoadsWithoutBlockingAndIsDownsampled) {
    QTemporaryDir dir;
    const QString run = dir.filePath(QStringLiteral("big"));
    QDir().mkpath(run);
    const int n = qEnvironmentVariableIntValue("BRILLM_MONITOR_BIG_LINES") > 0
                      ? qEnvironmentVariableIntValue("BRILLM_MONITOR_BIG_LINES")
                      : 200000;
    {
        std::string text;
        text.reserve(static_cast<std::size_t>(n) * 260);
        for (int s = 1; s <= n; ++s)
            text += stepLine(s, s == n / 2 ? 100.0 : fixtureLoss(s % 1000), 1.7e9 + s) + "\n";
        writeFile(QDir(run).filePath(QStringLiteral("metrics.jsonl")), text);
    }
    TrainingMonitor m;
    m.resize(1400, 900);
    m.setPollInterval(50);
    m.setSmoothingEnabled(true);
    m.setLogY(false);
    m.setXMode(TrainingMonitor::XMode::Step);
    m.setMetric(TrainingMonitor::Metric::Loss);
    m.show();
    // The UI thread's longest gap between 5 ms ticks while the file loads.
    QElapsedTimer beat, total;
    double maxGapMs = 0;
    QTimer heartbeat;
    heartbeat.setInterval(5);
    QObject::connect(&heartbeat, &QTimer::timeout, [&] {
        if (beat.isValid()) maxGapMs = std::max(maxGapMs, static_cast<double>(beat.nsecsElapsed()) * 1e-6 - 5);
        beat.restart();
    });
    heartbeat.start();
    total.start();
    m.addRun(run);
    ASSERT_TRUE(QTest::qWaitFor([&] { return !m.isLoading(); }, 120000));
    const double loadMs = static_cast<double>(total.nsecsElapsed()) * 1e-6;
    m.replotNow();
    const double replotMs = m.lastReplotMs();
    heartbeat.stop();
    EXPECT_EQ(m.series(0).steps.size(), static_cast<std::size_t>(n));
    QCPGraph* raw = graphNamed(m.lossPlot(), QStringLiteral("raw:big"));
    ASSERT_TRUE(raw);
    const int width = m.lossPlot()->axisRect()->width();
    EXPECT_LE(raw->data()->size(), 4 * width + 2);
    EXPECT_GT(raw->data()->size(), width); // min and max per column, not a thinning
    bool spike = false;
    for (auto it = raw->data()->constBegin(); it != raw->data()->constEnd(); ++it)
        spike |= it->value == 100.0;
    EXPECT_TRUE(spike);
    std::printf("[ measure  ] %d lines (%.1f MB): loaded in %.0f ms, longest UI gap %.0f ms, replot %.1f ms (%d px, %d "
                "points)\n",
                n, static_cast<double>(QFileInfo(QDir(run).filePath(QStringLiteral("metrics.jsonl"))).size()) / 1e6,
                loadMs, maxGapMs, replotMs, width, raw->data()->size());
    // Generous: a loaded CI machine; the load itself never runs on the UI thread.
    EXPECT_LT(maxGapMs, 1500);
}

TEST(TrainingMonitor, StallAlertWithAShortTimeout) {
    QTemporaryDir dir;
    const QString run = dir.filePath(QStringLiteral("live"));
    writeFixtureRun(run, 10);
    writeFile(QDir(run).filePath(QStringLiteral("config.json")), "{\"steps\": 1000}\n");
    TrainingMonitor m;
    m.setPollInterval(20);
    AlertSettings s;
    s.stallSeconds = 1.0;
    m.setAlertSettings(s);
    QSignalSpy alerts(&m, &TrainingMonitor::alertRaised);
    m.addRun(run);
    ASSERT_TRUE(QTest::qWaitFor([&] { return !m.isLoading(); }, 5000));
    writeFile(QDir(run).filePath(QStringLiteral("metrics.jsonl")), stepLine(11, 2.5, 1.7e9 + 11) + "\n", true);
    ASSERT_TRUE(QTest::qWaitFor([&] { return m.series(0).steps.size() == 11; }, 5000));
    EXPECT_EQ(m.runState(0), TrainingMonitor::RunState::Live);
    EXPECT_TRUE(QTest::qWaitFor([&] { return alerts.count() > 0; }, 5000));
    ASSERT_GE(alerts.count(), 1);
    EXPECT_EQ(alerts.first().first().value<TrainingAlert>().kind, TrainingAlert::Kind::Stall);
    EXPECT_EQ(m.runState(0), TrainingMonitor::RunState::Stalled);
}

// ---- the trainer process ----------------------------------------------------------------

namespace {
QString fakeTrainer(QTemporaryDir& dir, const QString& body) {
    const QString path = dir.filePath(QStringLiteral("fake-brillm"));
    writeFile(path, "#!/bin/sh\n" + body.toStdString() + "\n");
    QFile::setPermissions(path, QFile::permissions(path) | QFileDevice::ExeOwner);
    return path;
}
} // namespace

TEST(TrainingProcess, ArgumentsMatchTheCli) {
    TrainingRequest r;
    r.corpus = {QStringLiteral("/a.txt"), QStringLiteral("/b.txt")};
    r.runDirectory = QStringLiteral("/runs/x");
    r.steps = 10;
    r.batch = 4;
    r.negatives = 20;
    r.lr = 0.01;
    r.optimizer = QStringLiteral("sparse-adamw");
    r.extraArguments = {QStringLiteral("--eval-every"), QStringLiteral("5")};
    EXPECT_EQ(trainArguments(r).join(QLatin1Char(' ')),
              QStringLiteral("train --corpus /a.txt --corpus /b.txt --out /runs/x --steps 10 --batch 4 --negatives 20 "
                             "--lr 0.01 --optimizer sparse-adamw --eval-every 5 --json"));
    EXPECT_EQ(resumeArguments(QStringLiteral("/runs/x"), 50).join(QLatin1Char(' ')),
              QStringLiteral("train --resume /runs/x --steps 50 --json"));
}

TEST(TrainingProcess, ACrashingTrainerIsReportedNotFatal) {
    QTemporaryDir dir;
    const QString run = dir.filePath(QStringLiteral("crash-run"));
    // Writes two metrics lines like a trainer, then dies of SIGSEGV.
    const QString script = fakeTrainer(
        dir,
        QStringLiteral("mkdir -p %1\necho '{\"type\":\"step\",\"step\":1,\"time\":1,\"loss\":3}' >> %1/metrics.jsonl\n"
                       "echo 'about to crash' >&2\nkill -SEGV $$")
            .arg(run));
    TrainingMonitor m;
    m.setPollInterval(20);
    m.process()->setProgram(script);
    QSignalSpy finished(&m, &TrainingMonitor::trainingFinished);
    TrainingRequest r;
    r.corpus = {QStringLiteral("/dev/null")};
    r.runDirectory = run;
    ASSERT_TRUE(m.startTraining(r));
    ASSERT_TRUE(finished.wait(10000));
    const auto o = finished.first().first().value<TrainingOutcome>();
    EXPECT_TRUE(o.crashed);
    EXPECT_EQ(o.exitCode, SIGSEGV);
    EXPECT_NE(o.message.indexOf(QStringLiteral("crashed")), -1) << o.message.toStdString();
    EXPECT_NE(m.process()->log().indexOf(QStringLiteral("about to crash")), -1);
    ASSERT_EQ(m.runCount(), 1); // the started run is followed
    EXPECT_TRUE(QTest::qWaitFor([&] { return m.series(0).steps.size() == 1; }, 5000));
    ASSERT_FALSE(m.alerts().empty());
    EXPECT_EQ(m.alerts().back().kind, TrainingAlert::Kind::Process);

    // A trainer that refuses its arguments: the exit code and its last error line.
    m.process()->setProgram(fakeTrainer(dir, QStringLiteral("echo 'brillm train: no such corpus' >&2\nexit 2")));
    finished.clear();
    ASSERT_TRUE(m.startTraining(r));
    ASSERT_TRUE(finished.wait(10000));
    const auto o2 = finished.first().first().value<TrainingOutcome>();
    EXPECT_FALSE(o2.crashed);
    EXPECT_EQ(o2.exitCode, 2);
    EXPECT_NE(o2.message.indexOf(QStringLiteral("no such corpus")), -1) << o2.message.toStdString();

    // A program that does not exist.
    m.process()->setProgram(dir.filePath(QStringLiteral("missing")));
    finished.clear();
    EXPECT_FALSE(m.startTraining(r));
    ASSERT_EQ(finished.count(), 1);
}

TEST(TrainingProcess, StopSendsSigtermThenKillsAfterTheGracePeriod) {
    QTemporaryDir dir;
    TrainingProcess p;
    QSignalSpy finished(&p, &TrainingProcess::finished);
    // Traps SIGTERM like the trainer: "checkpoint", exit 130.
    p.setProgram(
        fakeTrainer(dir, QStringLiteral("trap 'echo checkpoint >&2; exit 130' TERM\nwhile true; do sleep 0.05; done")));
    TrainingRequest r;
    r.runDirectory = dir.filePath(QStringLiteral("r"));
    ASSERT_TRUE(p.start(r));
    QTest::qWait(200);
    p.stop();
    ASSERT_TRUE(finished.wait(10000));
    auto o = finished.first().first().value<TrainingOutcome>();
    EXPECT_TRUE(o.stopped);
    EXPECT_FALSE(o.crashed);
    EXPECT_EQ(o.exitCode, 130);

    // Ignores SIGTERM: killed after the grace period.
    p.setProgram(fakeTrainer(dir, QStringLiteral("trap '' TERM\nwhile true; do sleep 0.05; done")));
    p.setGracePeriodMs(500);
    finished.clear();
    ASSERT_TRUE(p.start(r));
    QTest::qWait(200);
    p.stop();
    ASSERT_TRUE(finished.wait(10000));
    o = finished.first().first().value<TrainingOutcome>();
    EXPECT_TRUE(o.killed);
    EXPECT_TRUE(o.crashed);
}

#ifdef BRILLM_CLI_PATH
// A real tiny run: started from the monitor, followed, stopped (checkpoint), resumed to the end.
TEST(TrainingProcess, RealTrainerStartStopResume) {
    QTemporaryDir dir;
    QFile src(QStringLiteral(BRILLM_CORPUS_PATH));
    ASSERT_TRUE(src.open(QIODevice::ReadOnly));
    const QString corpus = dir.filePath(QStringLiteral("corpus.txt"));
    writeFile(corpus, src.read(20000).toStdString());
    const QString run = dir.filePath(QStringLiteral("tiny-run"));
    TrainingMonitor m;
    m.setPollInterval(50);
    m.process()->setProgram(QStringLiteral(BRILLM_CLI_PATH));
    QSignalSpy finished(&m, &TrainingMonitor::trainingFinished);
    TrainingRequest r;
    r.corpus = {corpus};
    r.runDirectory = run;
    r.steps = 400;
    r.batch = 4;
    r.negatives = 16;
    r.extraArguments = {QStringLiteral("--eval-every"),       QStringLiteral("20"),
                        QStringLiteral("--eval-samples"),     QStringLiteral("4"),
                        QStringLiteral("--checkpoint-every"), QStringLiteral("1000"),
                        QStringLiteral("--threads"),          QStringLiteral("1")};
    QElapsedTimer t;
    t.start();
    ASSERT_TRUE(m.startTraining(r)) << m.process()->log().toStdString();
    ASSERT_EQ(m.runCount(), 1);
    ASSERT_TRUE(QTest::qWaitFor([&] { return m.series(0).steps.size() >= 30 || !m.process()->isRunning(); }, 60000))
        << m.process()->log().toStdString();
    ASSERT_TRUE(m.process()->isRunning())
        << "finished before it could be stopped: " << m.process()->log().toStdString();
    EXPECT_EQ(m.runState(0), TrainingMonitor::RunState::Live);
    m.stopTraining();
    ASSERT_TRUE(finished.wait(30000)) << m.process()->log().toStdString();
    auto o = finished.first().first().value<TrainingOutcome>();
    EXPECT_TRUE(o.stopped) << o.message.toStdString() << "\n" << m.process()->log().toStdString();
    EXPECT_EQ(o.exitCode, 130);
    ASSERT_TRUE(QFileInfo::exists(QDir(run).filePath(QStringLiteral("latest"))));
    ASSERT_TRUE(QTest::qWaitFor([&] { return m.runState(0) == TrainingMonitor::RunState::Stopped; }, 5000))
        << static_cast<int>(m.runState(0));
    const auto stoppedAt = m.series(0).lastStep();
    EXPECT_LT(stoppedAt, 400);

    finished.clear();
    m.findChild<QListWidget*>()->setCurrentRow(0);
    ASSERT_TRUE(m.resumeTraining()) << m.process()->log().toStdString();
    ASSERT_TRUE(finished.wait(120000)) << m.process()->log().toStdString();
    o = finished.first().first().value<TrainingOutcome>();
    EXPECT_EQ(o.exitCode, 0) << o.message.toStdString() << "\n" << m.process()->log().toStdString();
    ASSERT_TRUE(QTest::qWaitFor([&] { return m.series(0).lastStep() == 400; }, 10000));
    const auto& steps = m.series(0).steps.step;
    EXPECT_EQ(steps.size(), 400u); // the resumed steps replaced the stopped tail
    EXPECT_TRUE(std::is_sorted(steps.begin(), steps.end()));
    EXPECT_GE(m.series(0).evals.size(), 20u);
    EXPECT_EQ(m.runState(0), TrainingMonitor::RunState::Finished);
    std::printf("[ measure  ] real run: 400 steps, stopped at %lld, resumed, %.1f s in all\n",
                static_cast<long long>(stoppedAt), static_cast<double>(t.elapsed()) / 1e3);
}
#endif
