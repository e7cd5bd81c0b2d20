// ChatView: a conversation rendered as Markdown (QTextDocument::setMarkdown). A reasoning model's
// "<think>...</think>" is shown apart as a collapsible "Reasoning" part (a link toggles it), open while
// it is still streaming. Re-rendering is batched (at most every 50 ms) so long streams stay smooth.
#pragma once

#include <QSet>
#include <QTextBrowser>
#include <QTimer>

#include "app/chat_transcript.h"

namespace enclave::ui {

class ChatView : public QTextBrowser {
    Q_OBJECT
public:
    explicit ChatView(QWidget* parent = nullptr);
    void setTurns(const QList<app::ChatTurn>& turns);  // renders soon
    void setReasoningExpanded(int turn, bool expanded);
    bool reasoningExpanded(int turn) const { return m_expanded.contains(turn); }
    QString renderedMarkdown() const;  // what the view shows (tests)
    static QString finishReasonText(const QString& reason);  // "eos" -> "end of answer", translated

protected:
    void changeEvent(QEvent* event) override;

private:
    void render();
    QList<app::ChatTurn> m_turns;
    QSet<int> m_expanded;
    QTimer m_timer;
};

}  // namespace enclave::ui
