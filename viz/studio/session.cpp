// SPDX-License-Identifier: GPL-3.0-or-later
#include "studio/session.h"

#include <brillm/error.h>

#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

#include <limits>

namespace brillm::viz {

namespace {
constexpr int kVersion = 1;
constexpr qint64 kMaxSessionBytes = 64 << 20;

QJsonArray ids(const std::vector<int32_t>& v) {
    QJsonArray a;
    for (int32_t x : v)
        a.append(x);
    return a;
}

QJsonObject optionsJson(const DecodeOptions& o) {
    QJsonObject j;
    j[QStringLiteral("max_new_tokens")] = static_cast<qint64>(o.maxNewTokens);
    j[QStringLiteral("greedy")] = o.greedy;
    j[QStringLiteral("temperature")] = o.temperature;
    j[QStringLiteral("top_k")] = static_cast<qint64>(o.topK);
    j[QStringLiteral("top_p")] = o.topP;
    // A string: a 64-bit seed does not fit a JSON number's exact range.
    j[QStringLiteral("seed")] = QString::number(o.seed);
    j[QStringLiteral("exclude_self_loop")] = o.excludeSelfLoop;
    j[QStringLiteral("reference_decode")] = o.referenceDecode;
    j[QStringLiteral("banned_tokens")] = ids(o.bannedTokens);
    j[QStringLiteral("stop_tokens")] = ids(o.stopTokens);
    return j;
}

// Reading: each accessor checks the type and names the field.
struct Reader {
    QString source;
    [[noreturn]] void fail(const QString& what) const {
        throw InputError((source + QStringLiteral(": ") + what).toStdString());
    }
    QJsonValue need(const QJsonObject& o, const char* key, QJsonValue::Type type, const char* typeName) const {
        const QJsonValue v = o.value(QLatin1String(key));
        if (v.type() != type)
            fail(QStringLiteral("\"%1\" must be %2").arg(QLatin1String(key), QLatin1String(typeName)));
        return v;
    }
    QString str(const QJsonObject& o, const char* key, const QString& def = {}) const {
        return o.contains(QLatin1String(key)) ? need(o, key, QJsonValue::String, "a string").toString() : def;
    }
    bool boolean(const QJsonObject& o, const char* key, bool def) const {
        return o.contains(QLatin1String(key)) ? need(o, key, QJsonValue::Bool, "true or false").toBool() : def;
    }
    double number(const QJsonObject& o, const char* key, double def) const {
        return o.contains(QLatin1String(key)) ? need(o, key, QJsonValue::Double, "a number").toDouble() : def;
    }
    int64_t integer(const QJsonObject& o, const char* key, int64_t def, int64_t lo, int64_t hi) const {
        if (!o.contains(QLatin1String(key))) return def;
        const double d = need(o, key, QJsonValue::Double, "an integer").toDouble();
        if (d != static_cast<double>(static_cast<int64_t>(d)) || d < static_cast<double>(lo) ||
            d > static_cast<double>(hi))
            fail(QStringLiteral("\"%1\" must be an integer in [%2, %3]").arg(QLatin1String(key)).arg(lo).arg(hi));
        return static_cast<int64_t>(d);
    }
    std::vector<int32_t> idList(const QJsonObject& o, const char* key) const {
        std::vector<int32_t> out;
        if (!o.contains(QLatin1String(key))) return out;
        for (const QJsonValue& v : need(o, key, QJsonValue::Array, "an array of node ids").toArray()) {
            const double d = v.toDouble(-1);
            if (!v.isDouble() || d < 0 || d > std::numeric_limits<int32_t>::max() ||
                d != static_cast<double>(static_cast<int32_t>(d)))
                fail(QStringLiteral("\"%1\" must hold node ids (non-negative integers)").arg(QLatin1String(key)));
            out.push_back(static_cast<int32_t>(d));
        }
        return out;
    }
    DecodeOptions options(const QJsonObject& j) const {
        DecodeOptions o;
        o.maxNewTokens = integer(j, "max_new_tokens", o.maxNewTokens, 0, 100000);
        o.greedy = boolean(j, "greedy", o.greedy);
        o.temperature = number(j, "temperature", o.temperature);
        if (!(o.temperature > 0)) fail(QStringLiteral("\"temperature\" must be > 0"));
        o.topK = integer(j, "top_k", o.topK, 0, std::numeric_limits<int32_t>::max());
        o.topP = number(j, "top_p", o.topP);
        if (!(o.topP > 0 && o.topP <= 1)) fail(QStringLiteral("\"top_p\" must be in (0, 1]"));
        bool ok = true;
        const QString seed = str(j, "seed", QStringLiteral("0"));
        o.seed = seed.toULongLong(&ok);
        if (!ok) fail(QStringLiteral("\"seed\" must be a decimal integer"));
        o.excludeSelfLoop = boolean(j, "exclude_self_loop", o.excludeSelfLoop);
        o.referenceDecode = boolean(j, "reference_decode", o.referenceDecode);
        o.bannedTokens = idList(j, "banned_tokens");
        o.stopTokens = idList(j, "stop_tokens");
        return o;
    }
};
} // namespace

QByteArray StudioSession::toJson() const {
    QJsonObject root;
    root[QStringLiteral("format")] = QStringLiteral("brillm-studio-session");
    root[QStringLiteral("version")] = kVersion;
    root[QStringLiteral("model")] = modelPath;
    QJsonArray e;
    for (const auto& edit : edits) {
        QJsonObject j;
        j[QStringLiteral("op")] = QString::fromStdString(toString(edit.kind));
        j[QStringLiteral("source")] = edit.source;
        j[QStringLiteral("target")] = edit.target;
        j[QStringLiteral("factor")] = edit.factor;
        e.append(j);
    }
    root[QStringLiteral("edits")] = e;
    root[QStringLiteral("prompt")] = prompt;
    root[QStringLiteral("options")] = optionsJson(options);
    root[QStringLiteral("skip_special")] = skipSpecial;
    QJsonArray bs;
    for (const auto& b : branches) {
        QJsonObject j;
        j[QStringLiteral("tokens")] = ids(b.tokens);
        j[QStringLiteral("prompt_tokens")] = static_cast<qint64>(b.promptTokens);
        j[QStringLiteral("user_prompt_tokens")] = static_cast<qint64>(b.userPromptTokens);
        j[QStringLiteral("forced_at")] = static_cast<qint64>(b.forcedAt);
        j[QStringLiteral("selected_step")] = b.selectedStep;
        j[QStringLiteral("description")] = b.description;
        j[QStringLiteral("stop_reason")] = b.stopReason;
        j[QStringLiteral("options")] = optionsJson(b.options);
        bs.append(j);
    }
    root[QStringLiteral("branches")] = bs;
    root[QStringLiteral("branch_index")] = branchIndex;
    root[QStringLiteral("error_trace")] =
        QJsonObject{{QStringLiteral("prompt"), tracePrompt}, {QStringLiteral("expected"), traceExpected}};
    root[QStringLiteral("compare")] =
        QJsonObject{{QStringLiteral("mode"), compareMode},
                    {QStringLiteral("left"), compareLeft},
                    {QStringLiteral("right"), compareRight},
                    {QStringLiteral("completion_settings"), compareUsesCompletionSettings}};
    root[QStringLiteral("theme")] = theme;
    QJsonObject views;
    if (heatmapScale >= 0) views[QStringLiteral("heatmap_scale")] = heatmapScale;
    if (cortexMode >= 0) views[QStringLiteral("cortex_mode")] = cortexMode;
    if (!views.isEmpty()) root[QStringLiteral("views")] = views;
    root[QStringLiteral("window_state")] = QString::fromLatin1(windowState.toBase64());
    return QJsonDocument(root).toJson(QJsonDocument::Indented);
}

StudioSession StudioSession::fromJson(const QByteArray& json, const QString& source) {
    Reader r{source};
    QJsonParseError err{};
    const QJsonDocument doc = QJsonDocument::fromJson(json, &err);
    if (err.error != QJsonParseError::NoError)
        r.fail(QStringLiteral("not JSON (%1 at byte %2)").arg(err.errorString()).arg(err.offset));
    if (!doc.isObject()) r.fail(QStringLiteral("not a JSON object"));
    const QJsonObject root = doc.object();
    if (root.value(QStringLiteral("format")).toString() != QLatin1String("brillm-studio-session"))
        r.fail(QStringLiteral("not a studio session (\"format\" must be \"brillm-studio-session\")"));
    if (r.integer(root, "version", 0, 0, 1000) != kVersion)
        r.fail(QStringLiteral("session version %1 is not supported (this studio reads version %2)")
                   .arg(root.value(QStringLiteral("version")).toDouble())
                   .arg(kVersion));
    StudioSession s;
    s.modelPath = r.str(root, "model");
    if (root.contains(QStringLiteral("edits")))
        for (const QJsonValue& v : r.need(root, "edits", QJsonValue::Array, "an array").toArray()) {
            if (!v.isObject()) r.fail(QStringLiteral("every edit must be an object"));
            const QJsonObject j = v.toObject();
            ModelEdit edit;
            try {
                edit.kind = editKindFromString(r.str(j, "op").toStdString());
            } catch (const std::exception& ex) {
                r.fail(QString::fromStdString(ex.what()));
            }
            edit.source = static_cast<int32_t>(r.integer(j, "source", -1, -1, std::numeric_limits<int32_t>::max()));
            edit.target = static_cast<int32_t>(r.integer(j, "target", -1, -1, std::numeric_limits<int32_t>::max()));
            edit.factor = r.number(j, "factor", 1.0);
            s.edits.push_back(edit);
        }
    s.prompt = r.str(root, "prompt");
    if (root.contains(QStringLiteral("options")))
        s.options = r.options(r.need(root, "options", QJsonValue::Object, "an object").toObject());
    s.skipSpecial = r.boolean(root, "skip_special", true);
    if (root.contains(QStringLiteral("branches")))
        for (const QJsonValue& v : r.need(root, "branches", QJsonValue::Array, "an array").toArray()) {
            if (!v.isObject()) r.fail(QStringLiteral("every branch must be an object"));
            const QJsonObject j = v.toObject();
            SavedBranch b;
            b.tokens = r.idList(j, "tokens");
            if (b.tokens.empty()) r.fail(QStringLiteral("a branch has no tokens"));
            const auto n = static_cast<int64_t>(b.tokens.size());
            b.promptTokens = r.integer(j, "prompt_tokens", n, 1, n);
            b.userPromptTokens = r.integer(j, "user_prompt_tokens", b.promptTokens, 0, n);
            b.forcedAt = r.integer(j, "forced_at", -1, -1, n);
            b.selectedStep = static_cast<int>(r.integer(j, "selected_step", -1, -1, n));
            b.description = r.str(j, "description");
            b.stopReason = r.str(j, "stop_reason");
            if (j.contains(QStringLiteral("options")))
                b.options = r.options(r.need(j, "options", QJsonValue::Object, "an object").toObject());
            s.branches.push_back(std::move(b));
        }
    s.branchIndex = static_cast<int>(r.integer(root, "branch_index", -1, -1, 1 << 30));
    if (root.contains(QStringLiteral("error_trace"))) {
        const QJsonObject t = r.need(root, "error_trace", QJsonValue::Object, "an object").toObject();
        s.tracePrompt = r.str(t, "prompt");
        s.traceExpected = r.str(t, "expected");
    }
    if (root.contains(QStringLiteral("compare"))) {
        const QJsonObject c = r.need(root, "compare", QJsonValue::Object, "an object").toObject();
        s.compareMode = static_cast<int>(r.integer(c, "mode", 0, 0, 2));
        s.compareLeft = r.str(c, "left");
        s.compareRight = r.str(c, "right");
        s.compareUsesCompletionSettings = r.boolean(c, "completion_settings", false);
    }
    if (root.contains(QStringLiteral("views"))) {
        const QJsonObject v = r.need(root, "views", QJsonValue::Object, "an object").toObject();
        s.heatmapScale = static_cast<int>(r.integer(v, "heatmap_scale", -1, -1, 4));
        s.cortexMode = static_cast<int>(r.integer(v, "cortex_mode", -1, -1, 1));
    }
    s.theme = r.str(root, "theme");
    s.windowState = QByteArray::fromBase64(r.str(root, "window_state").toLatin1());
    return s;
}

QString saveSessionFile(const QString& path, const StudioSession& session) {
    const QByteArray bytes = session.toJson();
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(bytes) != bytes.size() || !f.commit())
        return QStringLiteral("cannot write %1: %2").arg(path, f.errorString());
    return {};
}

QString loadSessionFile(const QString& path, StudioSession* session) {
    if (!QFileInfo(path).isFile()) return QStringLiteral("%1 is not a file").arg(path); // a FIFO would hang
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return QStringLiteral("cannot read %1: %2").arg(path, f.errorString());
    if (f.size() > kMaxSessionBytes)
        return QStringLiteral("%1: larger than a session can be (%2 bytes)").arg(path).arg(f.size());
    try {
        *session = StudioSession::fromJson(f.readAll(), path);
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

} // namespace brillm::viz
