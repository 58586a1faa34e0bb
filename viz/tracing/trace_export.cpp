// SPDX-License-Identifier: GPL-3.0-or-later
#include "tracing/trace_export.h"

#include <brillm/io/trace_json.h>

#include <QFileInfo>
#include <QSaveFile>

#include <cmath>

namespace brillm::viz {

namespace {
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
    if (!model) return {};
    TraceJsonContext c;
    c.codec = model->codec.get();
    c.modelPath = model->path.toStdString();
    c.edits = options.edits;
    c.probabilities = options.probabilities;
    return QByteArray::fromStdString(brillm::traceToJson(trace, model->model(), o, c));
}

QString provenanceLine(const StudioModel* model, const std::vector<ModelEdit>& edits, const DecodeOptions& options) {
    QString line = QStringLiteral("model %1").arg(model ? model->path : QStringLiteral("(none)"));
    if (edits.empty()) {
        line += QStringLiteral(" · no edits");
    } else {
        QStringList parts;
        std::vector<std::string> names;
        if (model && model->codec) names = model->codec->vocabulary().tokens();
        for (const auto& e : edits)
            parts << QString::fromStdString(e.describe(names.empty() ? nullptr : &names));
        line += QStringLiteral(" · %1 edit%2: %3")
                    .arg(edits.size())
                    .arg(edits.size() == 1 ? "" : "s")
                    .arg(parts.join(QStringLiteral("; ")));
    }
    line += QStringLiteral(" · decoding: %1").arg(decodingSummary(options));
    return line;
}

QByteArray traceToCsv(const Trace& trace, const StudioModel* model, int64_t userPromptTokens,
                      const QString& provenance) {
    QString out;
    if (!provenance.isEmpty()) {
        QString p = provenance;
        p.replace(QLatin1Char('\n'), QLatin1Char(' '));
        out += QStringLiteral("# ") + p + QLatin1Char('\n');
    }
    out += QStringLiteral("step,generated,source,target,source_text,target_text,energy,probability,rank,"
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
                  const DecodeOptions& decodeOptions, const std::vector<ModelEdit>& edits) {
    const QString suffix = QFileInfo(path).suffix().toLower();
    QByteArray bytes;
    if (suffix == QLatin1String("csv")) {
        bytes = traceToCsv(trace, model, userPromptTokens, provenanceLine(model, edits, decodeOptions));
    } else if (suffix == QLatin1String("json")) {
        TraceExportOptions options;
        options.edits = edits;
        try {
            bytes = traceToJson(trace, model, decodeOptions, options);
        } catch (const std::exception& e) {
            return QStringLiteral("cannot write %1: %2").arg(path, QString::fromStdString(e.what()));
        }
    } else {
        return QStringLiteral("%1: unknown trace format (use .json or .csv)").arg(path);
    }
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size() || !f.commit())
        return QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
    return {};
}

} // namespace brillm::viz
