#include "app/chat_transcript.h"

#include <QCoreApplication>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace enclave::app {

SplitAnswer splitThink(const QString& text) {
    static const QString open = QStringLiteral("<think>");
    static const QString close = QStringLiteral("</think>");
    SplitAnswer out;
    const qsizetype start = text.indexOf(open);
    if (start < 0) {
        out.answer = text.trimmed();
        return out;
    }
    const qsizetype end = text.indexOf(close, start + open.size());
    if (end < 0) {
        out.reasoning = text.mid(start + open.size()).trimmed();
        out.answer = text.left(start).trimmed();
        out.reasoningOpen = true;
        return out;
    }
    out.reasoning = text.mid(start + open.size(), end - start - open.size()).trimmed();
    out.answer = (text.left(start) + text.mid(end + close.size())).trimmed();
    return out;
}

QString toMarkdown(const QString& title, const QString& model, const QList<ChatTurn>& turns) {
    const auto tr = [](const char* s) { return QCoreApplication::translate("ChatExport", s); };
    QString md = QStringLiteral("# %1\n\n").arg(title);
    if (!model.isEmpty()) md += tr("Model: %1").arg(model) + QStringLiteral("\n\n");
    for (const ChatTurn& t : turns) {
        QString who = t.role == QLatin1String("user") ? tr("User")
                      : t.role == QLatin1String("system") ? tr("System")
                                                          : tr("Assistant");
        md += QStringLiteral("## %1\n\n").arg(who);
        const SplitAnswer s = splitThink(t.content);
        if (!s.reasoning.isEmpty()) {
            md += QStringLiteral("> **%1**\n").arg(tr("Reasoning"));
            for (const QString& line : s.reasoning.split(QLatin1Char('\n'))) md += QStringLiteral("> %1\n").arg(line);
            md += QLatin1Char('\n');
        }
        md += s.answer + QStringLiteral("\n\n");
    }
    return md;
}

QByteArray toJson(const QString& title, const QString& model, const QList<ChatTurn>& turns) {
    QJsonArray messages;
    for (const ChatTurn& t : turns) {
        const SplitAnswer s = splitThink(t.content);
        QJsonObject m{{"role", t.role}, {"content", s.answer}};
        if (!s.reasoning.isEmpty()) m.insert("reasoning", s.reasoning);
        if (t.tokens) m.insert("tokens", t.tokens);
        if (!t.finishReason.isEmpty()) m.insert("finish_reason", t.finishReason);
        if (t.timeMs) m.insert("time_ms", t.timeMs);
        messages.append(m);
    }
    return QJsonDocument(QJsonObject{{"title", title}, {"model", model}, {"messages", messages}}).toJson(QJsonDocument::Indented);
}

}  // namespace enclave::app
