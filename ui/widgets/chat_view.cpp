#include "ui/widgets/chat_view.h"

#include <QEvent>
#include <QScrollBar>

namespace enclave::ui {

ChatView::ChatView(QWidget* parent) : QTextBrowser(parent) {
    setOpenLinks(false);
    m_timer.setSingleShot(true);
    m_timer.setInterval(50);
    connect(&m_timer, &QTimer::timeout, this, &ChatView::render);
    connect(this, &QTextBrowser::anchorClicked, this, [this](const QUrl& url) {
        if (url.scheme() != QLatin1String("reasoning")) return;
        const int turn = url.path().toInt();
        setReasoningExpanded(turn, !m_expanded.contains(turn));
    });
}

void ChatView::setTurns(const QList<app::ChatTurn>& turns) {
    m_turns = turns;
    if (!m_timer.isActive()) m_timer.start();
}

void ChatView::setReasoningExpanded(int turn, bool expanded) {
    if (expanded)
        m_expanded.insert(turn);
    else
        m_expanded.remove(turn);
    render();
}

QString ChatView::finishReasonText(const QString& reason) {
    // The engine's Finished.reason values (enclave.proto), and the console's own for a failed stream.
    if (reason == QLatin1String("stop")) return tr("stop sequence");
    if (reason == QLatin1String("eos")) return tr("end of answer");
    if (reason == QLatin1String("length")) return tr("token limit reached");
    if (reason == QLatin1String("cancelled")) return tr("stopped");
    if (reason == QLatin1String("error")) return tr("error");
    return reason;
}

QString ChatView::renderedMarkdown() const {
    QString md;
    for (int i = 0; i < m_turns.size(); ++i) {
        const app::ChatTurn& t = m_turns[i];
        if (t.role == QLatin1String("system")) continue;
        const bool user = t.role == QLatin1String("user");
        md += QStringLiteral("#### %1\n\n").arg(user ? tr("You") : tr("Assistant"));
        const app::SplitAnswer s = app::splitThink(t.content);
        if (!s.reasoning.isEmpty() || s.reasoningOpen) {
            const bool open = s.reasoningOpen || m_expanded.contains(i);
            md += QStringLiteral("[%1 %2](reasoning:%3)\n\n")
                      .arg(open ? QStringLiteral("▼") : QStringLiteral("▶"),
                           s.reasoningOpen ? tr("Reasoning (thinking…)") : tr("Reasoning"))
                      .arg(i);
            if (open)
                for (const QString& line : s.reasoning.split(QLatin1Char('\n'))) md += QStringLiteral("> %1\n").arg(line);
            md += QLatin1Char('\n');
        }
        md += s.answer.isEmpty() && !user && t.finishReason.isEmpty() ? QStringLiteral("…") : s.answer;
        md += QStringLiteral("\n\n");
        if (!user && !t.finishReason.isEmpty())
            md += QStringLiteral("*%1*\n\n").arg(tr("%1 tokens, finished: %2").arg(t.tokens).arg(finishReasonText(t.finishReason)));
        md += QStringLiteral("---\n\n");
    }
    return md;
}

void ChatView::render() {
    QScrollBar* bar = verticalScrollBar();
    const bool atEnd = bar->value() >= bar->maximum() - 4;
    const int keep = bar->value();
    document()->setMarkdown(renderedMarkdown());
    bar->setValue(atEnd ? bar->maximum() : keep);
}

void ChatView::changeEvent(QEvent* event) {
    if (event->type() == QEvent::LanguageChange) render();
    QTextBrowser::changeEvent(event);
}

}  // namespace enclave::ui
