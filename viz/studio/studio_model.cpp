// SPDX-License-Identifier: GPL-3.0-or-later
#include "studio/studio_model.h"

#include <brillm/error.h>
#include <brillm/io/sharded_model.h>

#include <QCryptographicHash>
#include <QDir>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QLocale>
#include <QRegularExpression>

namespace brillm::viz {

namespace {
// Labels are for display: a longer token (a vocabulary may hold megabytes in one string) is cut
// to this many characters plus "…", so that every view's text layout stays bounded (a 5 MB
// label took the heatmap's tick layout alone tens of seconds). The node's text stays whole.
constexpr qsizetype kMaxLabelChars = 64;

QString visibleToken(const QString& text, qsizetype maxChars) {
    if (text.isEmpty()) return QStringLiteral("∅");
    const bool cut = maxChars >= 0 && text.size() > maxChars;
    QString s = cut ? text.left(maxChars) : text;
    if (cut && s.back().isHighSurrogate()) s.chop(1); // never half a character
    s.replace(QLatin1Char(' '), QStringLiteral("␣"));
    s.replace(QLatin1Char('\n'), QStringLiteral("↵"));
    s.replace(QLatin1Char('\t'), QStringLiteral("⇥"));
    s.replace(QLatin1Char('\r'), QStringLiteral("␍"));
    if (cut) s += QStringLiteral("…");
    return s;
}
} // namespace

QString visibleToken(const QString& text) {
    return visibleToken(text, -1);
}

QString StudioModel::label(int32_t node) const {
    if (node >= 0 && node < labels.size()) return labels[node];
    return QStringLiteral("#%1").arg(node);
}

QString StudioModel::text(int32_t node) const {
    if (node >= 0 && node < texts.size()) return texts[node];
    return QStringLiteral("#%1").arg(node);
}

std::vector<int32_t> StudioModel::encode(const QString& text) const {
    if (codec) {
        const QByteArray utf8 = text.toUtf8();
        return codec->encode(std::string_view(utf8.constData(), static_cast<size_t>(utf8.size()))).nodes;
    }
    std::vector<int32_t> ids;
    const auto parts = text.split(QRegularExpression(QStringLiteral("[\\s,]+")), Qt::SkipEmptyParts);
    for (QString p : parts) {
        if (p.startsWith(QLatin1Char('#'))) p.remove(0, 1);
        bool ok = false;
        const int id = p.toInt(&ok);
        if (!ok || id < 0 || id >= vocabSize())
            throw InputError("this model has no vocabulary: type node ids such as \"#3 #17\"; \"" + p.toStdString() +
                             "\" is not an id in [0, " + std::to_string(vocabSize()) + ")");
        ids.push_back(id);
    }
    return ids;
}

ContinuationTokens StudioModel::encodeContinuation(const QString& prompt, const QString& expected) const {
    if (!codec) {
        ContinuationTokens out;
        out.prompt = encode(prompt);
        out.expected = encode(expected);
        return out;
    }
    const QByteArray p = prompt.toUtf8(), e = expected.toUtf8();
    return brillm::encodeContinuation(*codec, std::string_view(p.constData(), static_cast<size_t>(p.size())),
                                      std::string_view(e.constData(), static_cast<size_t>(e.size())));
}

QString decodingSummary(const DecodeOptions& o) {
    QStringList parts;
    if (o.greedy) {
        parts << QStringLiteral("greedy");
    } else {
        QString s = QStringLiteral("sampling: T %1").arg(o.temperature, 0, 'g', 4);
        if (o.topK > 0) s += QStringLiteral(" · top-k %1").arg(o.topK);
        if (o.topP < 1.0) s += QStringLiteral(" · top-p %1").arg(o.topP, 0, 'g', 4);
        s += QStringLiteral(" · seed %1").arg(o.seed);
        parts << s;
    }
    if (!o.excludeSelfLoop) parts << QStringLiteral("self-loops allowed");
    if (o.referenceDecode) parts << QStringLiteral("reference positions");
    if (!o.bannedTokens.empty())
        parts << QStringLiteral("%1 special token%2 banned")
                     .arg(o.bannedTokens.size())
                     .arg(o.bannedTokens.size() == 1 ? "" : "s");
    return parts.join(QStringLiteral(" · "));
}

std::optional<int32_t> StudioModel::findNode(const QString& s) const {
    for (int i = 0; i < labels.size(); ++i)
        if (labels[i] == s || texts[i] == s) return i;
    if (s.startsWith(QLatin1Char('#'))) {
        bool ok = false;
        const int id = s.mid(1).toInt(&ok);
        if (ok && id >= 0 && id < vocabSize()) return id;
    }
    return std::nullopt;
}

QString StudioModel::summary() const {
    const auto& m = loaded.model;
    const QLocale loc = QLocale::c();
    QString line = QStringLiteral("V = %1 · %2 own edges · d = %3 · %4")
                       .arg(m.vocabSize())
                       .arg(loc.toString(static_cast<qlonglong>(m.edges.numOwn())))
                       .arg(m.dim())
                       .arg(m.dtype() == at::kDouble     ? QStringLiteral("f64")
                            : m.dtype() == at::kBFloat16 ? QStringLiteral("bf16")
                            : m.dtype() == at::kHalf     ? QStringLiteral("f16")
                                                         : QStringLiteral("f32"));
    // a sharded model: mapped, or merged in memory (the reason in the tooltip, shardNote())
    if (loaded.shards > 0)
        line += loaded.mergedBecause.empty()
                    ? QStringLiteral(" · sharded: %1 shards, mapped").arg(loaded.shards)
                    : QStringLiteral(" · sharded: %1 shards, merged in memory").arg(loaded.shards);
    return line;
}

QString StudioModel::shardNote() const {
    if (loaded.shards == 0) return {};
    return loaded.mergedBecause.empty()
               ? QStringLiteral("%1 shards, each shard's rows mapped (read only when touched)").arg(loaded.shards)
               : QStringLiteral("%1 shards merged in memory, not mapped: %2")
                     .arg(loaded.shards)
                     .arg(QString::fromStdString(loaded.mergedBecause));
}

QString StudioModel::shardOfSource(int32_t source) const {
    if (loaded.shards == 0 || static_cast<int>(loaded.shardSourceBegin.size()) != loaded.shards + 1) return {};
    ShardPlan plan; // the partition's owner rule, as the trainer applies it
    plan.sourceBegin = loaded.shardSourceBegin;
    const int r = plan.ownerOf(source);
    return QStringLiteral("shard %1 of %2 (%3)")
        .arg(r)
        .arg(loaded.shards)
        .arg(QString::fromStdString(shardFileName(r, loaded.shards)));
}

std::shared_ptr<const StudioModel> StudioModel::fromLoaded(LoadedModel loaded, const QString& path) {
    auto sm = std::make_shared<StudioModel>();
    sm->loaded = std::move(loaded);
    sm->path = path;
    const int64_t V = sm->loaded.model.vocabSize();
    try {
        sm->codec = std::make_shared<const TextCodec>(TextCodec::fromMetadata(sm->loaded.metadata, V));
    } catch (const std::exception& e) {
        sm->codecNote = QString::fromStdString(e.what());
    }
    sm->labels.reserve(V);
    sm->texts.reserve(V);
    for (int32_t n = 0; n < V; ++n) {
        QString t;
        if (sm->codec) {
            try {
                t = QString::fromStdString(sm->codec->nodeText(n));
            } catch (const std::exception&) {
                t = QString::fromStdString(sm->codec->nodeToken(n));
            }
        } else if (static_cast<int64_t>(sm->loaded.metadata.vocabulary.size()) == V) {
            t = QString::fromStdString(sm->loaded.metadata.vocabulary[static_cast<size_t>(n)]);
        } else {
            t = QStringLiteral("#%1").arg(n);
        }
        sm->texts.push_back(t);
        sm->labels.push_back(visibleToken(t, kMaxLabelChars));
    }
    // a sharded model (a directory): keyed by its manifest
    const QFileInfo fi(QFileInfo(path).isDir() ? QDir(path).filePath(QStringLiteral("shards.json")) : path);
    const QByteArray key = (fi.absoluteFilePath() + QLatin1Char('|') + QString::number(fi.size()) + QLatin1Char('|') +
                            QString::number(fi.lastModified().toMSecsSinceEpoch()))
                               .toUtf8();
    sm->cacheKey = QString::fromLatin1(QCryptographicHash::hash(key, QCryptographicHash::Sha1).toHex());
    return sm;
}

std::shared_ptr<const StudioModel> StudioModel::load(const QString& path) {
    QElapsedTimer timer;
    timer.start();
    if (!QFileInfo::exists(path)) throw CheckpointError(path.toStdString() + ": no such file");
    // a model file, or a sharded model's directory (or its shards.json): the shards mapped; the
    // directory is the model's path (recent files, sessions)
    const QFileInfo info(path);
    if (info.isDir() && !isShardedModel(path.toStdString()))
        throw CheckpointError(path.toStdString() +
                              " is a directory without shards.json: not a sharded model (open a .brillm file, or the "
                              "model-shards directory of a run trained with --shard-edges)");
    const QString modelPath = info.fileName() == QLatin1String("shards.json") ? info.absolutePath() : path;
    auto loaded = openModel(modelPath.toStdString());
    auto sm = fromLoaded(std::move(loaded), modelPath);
    const_cast<StudioModel&>(*sm).loadSeconds = static_cast<double>(timer.nsecsElapsed()) * 1e-9;
    return sm;
}

} // namespace brillm::viz
