// SPDX-License-Identifier: GPL-3.0-or-later
#include "trace_export.h"

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

QByteArray traceToJson(const Trace& trace, const StudioModel* model, const TraceExportOptions& options) {
    QJsonObject root;
    QJsonArray tokens, texts;
    for (int32_t t : trace.tokens) {
        tokens.append(t);
        if (model) texts.append(model->text(t));
    }
    root[QStringLiteral("tokens")] = tokens;
    if (model) root[QStringLiteral("token_text")] = texts;
    root[QStringLiteral("prompt_tokens")] = static_cast<qint64>(trace.promptTokens);
    root[QStringLiteral("stop_reason")] = QString::fromStdString(trace.stopReason);
    if (model) {
        root[QStringLiteral("model")] = model->path;
        root[QStringLiteral("vocab_size")] = static_cast<qint64>(model->vocabSize());
    }
    QJsonArray steps;
    for (const auto& s : trace.steps) {
        QJsonObject o;
        o[QStringLiteral("index")] = static_cast<qint64>(s.index);
        o[QStringLiteral("generated")] = s.generated;
        o[QStringLiteral("source")] = s.source;
        o[QStringLiteral("target")] = s.target;
        if (model) {
            o[QStringLiteral("source_text")] = model->text(s.source);
            o[QStringLiteral("target_text")] = model->text(s.target);
        }
        o[QStringLiteral("energy")] = number(s.energy);
        o[QStringLiteral("probability")] = number(s.probability);
        o[QStringLiteral("rank")] = static_cast<qint64>(s.rank);
        o[QStringLiteral("candidates")] = static_cast<qint64>(s.candidates);
        o[QStringLiteral("slot")] = static_cast<qint64>(s.slot);
        o[QStringLiteral("shared")] = s.shared;
        o[QStringLiteral("best")] = s.best;
        o[QStringLiteral("best_energy")] = number(s.bestEnergy);
        o[QStringLiteral("ties")] = static_cast<qint64>(s.ties);
        o[QStringLiteral("shared_candidates")] = static_cast<qint64>(s.sharedCandidates);
        o[QStringLiteral("shared_energy")] = number(s.sharedEnergy);
        o[QStringLiteral("pe_index")] = static_cast<qint64>(s.peIndex);
        o[QStringLiteral("mix_weights")] = numbers(s.mixWeights);
        if (options.denseEnergies) o[QStringLiteral("energies")] = numbers(s.energies);
        if (options.probabilities) o[QStringLiteral("probabilities")] = numbers(s.probabilities);
        if (options.includeSignals) {
            o[QStringLiteral("input")] = numbers(s.input);
            o[QStringLiteral("output")] = numbers(s.output);
        }
        steps.append(o);
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

QString saveTrace(const QString& path, const Trace& trace, const StudioModel* model, int64_t userPromptTokens) {
    const QString suffix = QFileInfo(path).suffix().toLower();
    QByteArray bytes;
    if (suffix == QLatin1String("csv"))
        bytes = traceToCsv(trace, model, userPromptTokens);
    else if (suffix == QLatin1String("json"))
        bytes = traceToJson(trace, model);
    else
        return QStringLiteral("%1: unknown trace format (use .json or .csv)").arg(path);
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size() || !f.commit())
        return QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
    return {};
}

} // namespace brillm::viz
