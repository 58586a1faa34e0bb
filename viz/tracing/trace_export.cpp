// SPDX-License-Identifier: GPL-3.0-or-later
#include "tracing/trace_export.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

#include <cmath>

namespace brillm::viz {

namespace {
QJsonValue number(double v) { return std::isfinite(v) ? QJsonValue(v) : QJsonValue(QJsonValue::Null); }

QJsonArray numbers(const std::vector<double>& v) {
    QJsonArray a;
    for (double x : v) a.append(number(x));
    return a;
}

QString csvField(QString s) {
    if (s.contains(QLatin1Char(',')) || s.contains(QLatin1Char('"')) || s.contains(QLatin1Char('\n')) ||
        s.startsWith(QLatin1Char(' ')) || s.endsWith(QLatin1Char(' '))) {
        s.replace(QLatin1Char('"'), QStringLiteral("\"\""));
        return QLatin1Char('"') + s + QLatin1Char('"');
    }
    return s;
}
} // namespace

QByteArray traceToJson(const Trace& trace, const StudioModel* model, const DecodeOptions& o,
                       const TraceExportOptions& options) {
    auto token = [&](int32_t n) {
        if (model && model->codec) return QString::fromStdString(model->codec->nodeToken(n));
        return model ? model->text(n) : QString::number(n);
    };
    QJsonObject root;
    root[QStringLiteral("format")] = QStringLiteral("brillm-trace");
    root[QStringLiteral("version")] = 1;
    if (model) {
        root[QStringLiteral("model")] = model->path;
        root[QStringLiteral("vocab_size")] = static_cast<qint64>(model->vocabSize());
        root[QStringLiteral("dim")] = static_cast<qint64>(model->model().dim());
    }
    QJsonObject opts;
    opts[QStringLiteral("greedy")] = o.greedy;
    opts[QStringLiteral("temperature")] = o.temperature;
    opts[QStringLiteral("top_k")] = static_cast<qint64>(o.topK);
    opts[QStringLiteral("top_p")] = o.topP;
    opts[QStringLiteral("seed")] = static_cast<qint64>(o.seed);
    opts[QStringLiteral("exclude_self_loop")] = o.excludeSelfLoop;
    opts[QStringLiteral("reference_decode")] = o.referenceDecode;
    opts[QStringLiteral("max_new_tokens")] = static_cast<qint64>(o.maxNewTokens);
    root[QStringLiteral("options")] = opts;
    root[QStringLiteral("prompt_tokens")] = static_cast<qint64>(trace.promptTokens);
    QJsonArray tokens, strings;
    for (int32_t t : trace.tokens) {
        tokens.append(t);
        strings.append(token(t));
    }
    root[QStringLiteral("tokens")] = tokens;
    root[QStringLiteral("token_strings")] = strings;
    if (model && model->codec) {
        try {
            root[QStringLiteral("text")] = QString::fromStdString(model->codec->decode(trace.tokens));
        } catch (const std::exception&) {
        }
    }
    root[QStringLiteral("stop_reason")] = QString::fromStdString(trace.stopReason);
    root[QStringLiteral("initial_signal")] = numbers(trace.initialSignal);
    QJsonArray steps;
    for (const auto& s : trace.steps) {
        QJsonObject e;
        e[QStringLiteral("index")] = static_cast<qint64>(s.index);
        e[QStringLiteral("generated")] = s.generated;
        e[QStringLiteral("source")] = s.source;
        e[QStringLiteral("target")] = s.target;
        e[QStringLiteral("source_token")] = token(s.source);
        e[QStringLiteral("target_token")] = token(s.target);
        if (model) {
            e[QStringLiteral("source_text")] = model->text(s.source);
            e[QStringLiteral("target_text")] = model->text(s.target);
        }
        e[QStringLiteral("slot")] = static_cast<qint64>(s.slot);
        e[QStringLiteral("shared")] = s.shared;
        e[QStringLiteral("pe_index")] = static_cast<qint64>(s.peIndex);
        e[QStringLiteral("mix_weights")] = numbers(s.mixWeights);
        e[QStringLiteral("energy")] = number(s.energy);
        e[QStringLiteral("probability")] = number(s.probability);
        e[QStringLiteral("rank")] = static_cast<qint64>(s.rank);
        e[QStringLiteral("candidates")] = static_cast<qint64>(s.candidates);
        e[QStringLiteral("best")] = s.best;
        e[QStringLiteral("best_energy")] = number(s.bestEnergy);
        e[QStringLiteral("ties")] = static_cast<qint64>(s.ties);
        e[QStringLiteral("shared_candidates")] = static_cast<qint64>(s.sharedCandidates);
        e[QStringLiteral("shared_energy")] = number(s.sharedEnergy);
        e[QStringLiteral("input")] = numbers(s.input);
        e[QStringLiteral("output")] = numbers(s.output);
        e[QStringLiteral("energies")] = numbers(s.energies);
        if (options.probabilities) e[QStringLiteral("probabilities")] = numbers(s.probabilities);
        steps.append(e);
    }
    root[QStringLiteral("steps")] = steps;
    return QJsonDocument(root).toJson(QJsonDocument::Compact);
}

QByteArray traceToCsv(const Trace& trace, const StudioModel* model, int64_t userPromptTokens) {
    QString out = QStringLiteral("step,generated,source,target,source_text,target_text,energy,probability,rank,"
                                 "candidates,slot,shared,best,best_text,best_energy,ties\n");
    auto text = [&](int32_t n) { return model ? model->text(n) : QString(); };
    for (const auto& s : trace.steps) {
        const bool generated = s.index + 1 >= userPromptTokens;
        out += QStringLiteral("%1,%2,%3,%4,%5,%6,%7,%8,%9,")
                   .arg(s.index)
                   .arg(generated ? 1 : 0)
                   .arg(s.source)
                   .arg(s.target)
                   .arg(csvField(text(s.source)), csvField(text(s.target)))
                   .arg(s.energy, 0, 'g', 9)
                   .arg(s.probability, 0, 'g', 9)
                   .arg(s.rank);
        out += QStringLiteral("%1,%2,%3,%4,%5,%6,%7\n")
                   .arg(s.candidates)
                   .arg(s.slot)
                   .arg(s.shared ? 1 : 0)
                   .arg(s.best)
                   .arg(csvField(s.best >= 0 ? text(s.best) : QString()))
                   .arg(s.bestEnergy, 0, 'g', 9)
                   .arg(s.ties);
    }
    return out.toUtf8();
}

QString saveTrace(const QString& path, const Trace& trace, const StudioModel* model, int64_t userPromptTokens,
                  const DecodeOptions& decodeOptions) {
    const QString suffix = QFileInfo(path).suffix().toLower();
    QByteArray bytes;
    if (suffix == QLatin1String("csv"))
        bytes = traceToCsv(trace, model, userPromptTokens);
    else if (suffix == QLatin1String("json"))
        bytes = traceToJson(trace, model, decodeOptions);
    else
        return QStringLiteral("%1: unknown trace format (use .json or .csv)").arg(path);
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size() || !f.commit())
        return QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
    return {};
}

} // namespace brillm::viz
