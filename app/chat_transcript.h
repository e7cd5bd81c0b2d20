// Chat text helpers with no widgets: splitting a reasoning model's "<think>...</think>" from its answer
// (also while the answer is still streaming, when the closing tag has not arrived), and exporting a
// conversation as Markdown or JSON.
#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

namespace enclave::app {

struct ChatTurn {
    QString role;          // system, user, assistant
    QString content;       // as generated, <think> included
    qint64 tokens = 0;
    QString finishReason;  // assistant turns
    qint64 timeMs = 0;
};

struct SplitAnswer {
    QString reasoning;     // inside <think>..</think>, trimmed
    QString answer;        // everything else, trimmed
    bool reasoningOpen = false;  // <think> seen, </think> not yet (still streaming)
};

SplitAnswer splitThink(const QString& text);

// Markdown: "# title", then one "## <Role>" section per turn; reasoning as a quoted block.
QString toMarkdown(const QString& title, const QString& model, const QList<ChatTurn>& turns);
// JSON: {"title", "model", "messages": [{"role","content","reasoning","tokens","finish_reason","time_ms"}]}
QByteArray toJson(const QString& title, const QString& model, const QList<ChatTurn>& turns);

}  // namespace enclave::app
