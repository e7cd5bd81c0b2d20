// The Chat page's stop button against a real engine, and the reasoning part of a reply.
//
// Stop: a long answer is stopped through the button while it streams; the page returns to idle (Send
// enabled, Stop disabled, a next question is answered), the partial reply stays on the page marked
// "stopped", and the engine's stream really ended: the engine stores the answer only when its stream is
// over, and what it stored is what the page showed (the page's text is its prefix), with no request left
// running.
//
// Reasoning (a ChatView test with transcript content, since the default model does not emit <think>
// reliably): "<think>...</think>" shows as a collapsed "Reasoning" link that a click opens and closes; a
// reasoning part still streaming shows open; in Chinese the link reads in Chinese.
//
// Stale lists: a conversation list requested before a sign-out is dropped when it arrives.
#include <QAbstractTextDocumentLayout>
#include <QSpinBox>
#include <QTextBlock>

#include "console_fixture.h"
#include "ui/pages/chat_page.h"
#include "ui/widgets/chat_view.h"

using namespace enclave;
using app::Session;
using test::child;
using test::waitFor;

namespace {
// Clicks the link to `href` in the view as a user would: at its place on the screen.
bool clickLink(ui::ChatView* view, const QString& href) {
    for (QTextBlock b = view->document()->begin(); b.isValid(); b = b.next())
        for (auto it = b.begin(); !it.atEnd(); ++it) {
            const QTextFragment f = it.fragment();
            if (!f.charFormat().isAnchor() || f.charFormat().anchorHref() != href) continue;
            QTextCursor c(view->document());
            c.setPosition(f.position() + 1);
            const QPoint at = view->cursorRect(c).center();
            QTest::mouseClick(view->viewport(), Qt::LeftButton, {}, at);
            return true;
        }
    return false;
}
}  // namespace

class TstChatPage : public QObject {
    Q_OBJECT
    std::unique_ptr<test::Console> m_console;

    ui::ChatPage* page() const { return static_cast<ui::ChatPage*>(m_console->page(Session::Page::Chat)); }
    ui::MainWindow* w() const { return m_console->window.get(); }

    v1::Conversation stored(qint64 id) const {
        v1::GetConversationRequest req;
        req.set_id(id);
        return test::ask(*m_console->client, "Conversations.GetConversation", &v1::Conversations::Stub::GetConversation,
                         req)
            .value_or(v1::Conversation{});
    }
    qint64 runningRequests() const {
        qint64 n = -1;
        if (const auto r = test::ask(*m_console->client, "Models.ListModels", &v1::Models::Stub::ListModels,
                                     v1::ListModelsRequest{})) {
            n = 0;
            for (const auto& m : r->models()) n += m.running_requests() + m.waiting_requests();
        }
        return n;
    }

private slots:
    void initTestCase() {
        m_console = std::make_unique<test::Console>();
        QString why;
        QVERIFY2(m_console->deployAndBootstrap(&why), qPrintable(why));
        QVERIFY(w()->showPage(Session::Page::Chat));
        QVERIFY(waitFor([&] { return child<QComboBox>(page(), "chatModel")->count() > 0; }, 10000));
    }

    void stopEndsTheStreamAndKeepsThePartialReply() {
        child<QSpinBox>(page(), "maxTokens")->setValue(1500);
        QTest::keyClicks(child<QPlainTextEdit>(page(), "chatInput"),
                         QStringLiteral("Count from 1 to 1000, one number per line."));
        QSignalSpy finished(page(), &ui::ChatPage::answerFinished);
        auto* send = child<QPushButton>(page(), "send");
        auto* stop = child<QPushButton>(page(), "stop");
        QVERIFY(!stop->isEnabled());
        send->click();
        QVERIFY2(
            waitFor([&] { return page()->turns().size() == 2 && page()->turns().last().content.size() >= 12; }, 60000),
            qPrintable(w()->lastMessage()));
        QVERIFY(finished.isEmpty());  // still streaming
        QVERIFY(stop->isEnabled() && !send->isEnabled() && page()->streaming());

        stop->click();
        QVERIFY(finished.wait(10000));
        QCOMPARE(finished.first().first().toString(), QStringLiteral("cancelled"));
        // Idle again, the partial reply kept and marked.
        QVERIFY(!stop->isEnabled() && send->isEnabled() && !page()->streaming());
        QCOMPARE(page()->turns().size(), 2);
        const QString partial = page()->turns().last().content;
        QVERIFY(!partial.trimmed().isEmpty());
        QCOMPARE(page()->turns().last().finishReason, QStringLiteral("cancelled"));
        QVERIFY(
            waitFor([&] { return page()->view()->toPlainText().contains(QStringLiteral("finished: stopped")); }, 2000));
        QVERIFY(page()->view()->toPlainText().contains(partial.trimmed().left(8)));

        // The engine's side: the stream is over (its answer is stored only then), nothing is left running,
        // and it stored what the page showed, far from the 1,500 tokens asked for.
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Chat, "conversations") == 1; }, 10000));
        const qint64 id =
            child<QTableView>(page(), "conversations")->model()->index(0, 0).data(Qt::UserRole).toLongLong();
        QVERIFY2(waitFor([&] { return stored(id).messages_size() == 2; }, 10000), "the engine's stream did not end");
        const QString kept = QString::fromStdString(stored(id).messages(1).content());
        QVERIFY2(kept.startsWith(partial), qPrintable(QStringLiteral("page: '%1'\nengine: '%2'").arg(partial, kept)));
        QVERIFY2(kept.size() < partial.size() + 200, qPrintable(kept));
        QVERIFY(waitFor([&] { return runningRequests() == 0; }, 5000));

        // And the page takes the next question.
        finished.clear();
        child<QSpinBox>(page(), "maxTokens")->setValue(8);
        QTest::keyClicks(child<QPlainTextEdit>(page(), "chatInput"), QStringLiteral("Say OK."));
        send->click();
        QVERIFY(finished.wait(60000));
        QVERIFY2(finished.first().first().toString() != QLatin1String("error") &&
                     finished.first().first().toString() != QLatin1String("cancelled"),
                 qPrintable(finished.first().first().toString() + QLatin1Char(' ') + w()->lastMessage()));
        QCOMPARE(page()->turns().size(), 4);
        QVERIFY(waitFor([&] { return stored(id).messages_size() == 4; }, 10000));
    }

    // A conversation list still on its way when the user signs out (or when the page itself changed the list)
    // is dropped: it must not bring the previous user's conversations back.
    void aListRequestedBeforeSignOutIsDropped() {
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Chat, "conversations") >= 1; }, 10000));
        page()->refresh();      // ListConversations leaves now; its reply comes back on the event loop
        page()->forgetUser();   // sign-out, before that reply
        QCOMPARE(m_console->rows(Session::Page::Chat, "conversations"), 0);
        QTest::qWait(3000);     // long enough for the reply (the same call answered well within it above)
        QCOMPARE(m_console->rows(Session::Page::Chat, "conversations"), 0);
        page()->refresh();      // a request made after the change is applied as usual
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Chat, "conversations") >= 1; }, 10000));
    }

    void reasoningIsACollapsiblePart() {
        ui::ChatView view;
        view.resize(700, 500);
        view.show();
        const QString thought = QStringLiteral("The user greets me. A short greeting back is best.");
        view.setTurns(
            {{QStringLiteral("user"), QStringLiteral("Hello"), 0, {}, 0},
             {QStringLiteral("assistant"), QStringLiteral("<think>%1</think>Hello! How can I help?").arg(thought), 9,
              QStringLiteral("eos"), 0},
             {QStringLiteral("user"), QStringLiteral("How many letters are in 'enclave'?"), 0, {}, 0},
             {QStringLiteral("assistant"), QStringLiteral("<think>Counting the letters: e, n, c"), 0, {}, 0}});
        QVERIFY(waitFor([&] { return view.toPlainText().contains(QStringLiteral("Hello! How can I help?")); }, 2000));
        // Collapsed: the link, not the thought; the answer without its tags.
        QString text = view.toPlainText();
        QVERIFY2(text.contains(QStringLiteral("▶ Reasoning")) && !text.contains(thought) &&
                     !text.contains(QStringLiteral("<think>")),
                 qPrintable(text));
        // Still thinking: shown open.
        QVERIFY2(text.contains(QStringLiteral("Reasoning (thinking…)")) &&
                     text.contains(QStringLiteral("Counting the letters")),
                 qPrintable(text));

        QVERIFY(clickLink(&view, QStringLiteral("reasoning:1")));
        QVERIFY(waitFor([&] { return view.toPlainText().contains(thought); }, 2000));
        QVERIFY(view.reasoningExpanded(1));
        QVERIFY(view.toPlainText().contains(QStringLiteral("▼ Reasoning")));
        QVERIFY(clickLink(&view, QStringLiteral("reasoning:1")));
        QVERIFY(waitFor([&] { return !view.toPlainText().contains(thought); }, 2000));

        QVERIFY(m_console->language->set(QStringLiteral("zh_CN")));
        QVERIFY(waitFor([&] { return view.toPlainText().contains(QStringLiteral("推理过程")); }, 2000));
        text = view.toPlainText();
        QVERIFY2(!text.contains(QStringLiteral("Reasoning")) && text.contains(QStringLiteral("Hello! How can I help?")),
                 qPrintable(text));
        QVERIFY(m_console->language->set(QStringLiteral("en")));
    }

    void cleanupTestCase() { m_console.reset(); }
};

QTEST_MAIN(TstChatPage)
#include "tst_chat_page.moc"
