// The console against a real engine on the offscreen platform, signed in for real as an admin (the
// first-run wizard), an analyst and an auditor (users created through the engine, signed in through the
// login dialog): each role sees its pages, each page shows live data, screenshots of every page in English
// and Chinese and in the dark theme go to <build>/screenshots, in zh_CN no visible text is left in English
// (also after an error and after switching languages at run time), and a revoked session brings the login
// back with the page's state kept.
#include <QTextBrowser>

#include "console_fixture.h"
#include "ui/pages/audit_page.h"
#include "ui/pages/chat_page.h"
#include "ui/pages/dashboard_page.h"
#include "ui/pages/models_page.h"
#include "ui/widgets/chart_panel.h"
#include "ui/widgets/chat_view.h"

using namespace enclave;
using app::Session;
using test::child;
using test::waitFor;

namespace {
const QString kAnalystPassword = QStringLiteral("Tr0ubadour-And-Three-Dogs");
const QString kAuditorPassword = QStringLiteral("Purple-Monkey-Dishwasher-42");

QString pageName(Session::Page p) {
    static const char* names[] = {"connect", "dashboard", "models", "chat", "users", "audit", "alerts", "settings"};
    return QString::fromLatin1(names[int(p)]);
}
}  // namespace

class TstUiSmoke : public QObject {
    Q_OBJECT
    std::unique_ptr<test::Console> m_console;
    ui::MainWindow* w() const { return m_console->window.get(); }

    // Shows each visible page, waits for its data, saves <prefix>_<page>_<lang>.png; in Chinese also checks
    // that no English is left on it.
    void screenshots(const QString& prefix) {
        const QString lang = m_console->language->current();
        for (Session::Page p : w()->visiblePages()) {
            QVERIFY(w()->showPage(p));
            QTest::qWait(p == Session::Page::Dashboard ? 2500 : 900);
            const QString file = QStringLiteral(ENCLAVE_SCREENSHOT_DIR "/%1%2_%3.png").arg(prefix, pageName(p), lang);
            QVERIFY2(w()->grab().save(file), qPrintable(file));
            if (lang == QLatin1String("zh_CN")) {
                const QStringList left = test::englishLeft(w());
                QVERIFY2(left.isEmpty(), qPrintable(prefix + pageName(p) + QStringLiteral(":\n") + left.join(QLatin1Char('\n'))));
            }
        }
    }

    void signOutAndIn(const QString& user, const QString& password) {
        child<QPushButton>(w(), "signOut")->click();
        QCOMPARE(m_console->session->role(), Session::Role::None);
        QString why;
        QVERIFY2(m_console->loginThroughDialog(user, password, &why), qPrintable(why));
    }

private slots:
    void initTestCase() {
        QVERIFY(QDir().mkpath(QStringLiteral(ENCLAVE_SCREENSHOT_DIR)));
        m_console = std::make_unique<test::Console>();
        QVERIFY2(QFileInfo(m_console->engine).isExecutable(), qPrintable(m_console->engine));
        QVERIFY2(QFileInfo::exists(m_console->model), qPrintable(m_console->model));
        m_console->deploy();
        QString why;
        QVERIFY2(m_console->bootstrapThroughWizard(QStringLiteral("admin"), &why), qPrintable(why));
        QVERIFY(m_console->createUser(QStringLiteral("ana"), v1::ROLE_ANALYST, kAnalystPassword));
        QVERIFY(m_console->createUser(QStringLiteral("audrey"), v1::ROLE_AUDITOR, kAuditorPassword));
    }

    void adminPagesWithLiveData() {
        QCOMPARE(w()->visiblePages().size(), 8);
        // Chat first, so the dashboard and the audit log have a request to show.
        QVERIFY(w()->showPage(Session::Page::Chat));
        auto* chat = static_cast<ui::ChatPage*>(m_console->page(Session::Page::Chat));
        QVERIFY(waitFor([&] { return child<QComboBox>(chat, "chatModel")->count() > 0; }, 10000));
        QSignalSpy finished(chat, &ui::ChatPage::answerFinished);
        child<QPlainTextEdit>(chat, "chatInput")->setPlainText(QStringLiteral("What is the capital of France? Answer in one sentence."));
        child<QPushButton>(chat, "send")->click();
        QVERIFY(finished.wait(90000));
        QVERIFY2(finished.first().first().toString() != QLatin1String("error"), qPrintable(w()->lastMessage()));
        QCOMPARE(chat->turns().size(), 2);
        QVERIFY(!chat->turns().last().content.isEmpty());
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Chat, "conversations") == 1; }, 10000));
        QVERIFY(child<QLabel>(chat, "chatStats")->text().contains(QStringLiteral("tokens/s")));

        QVERIFY(w()->showPage(Session::Page::Models));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Models, "servedModels") == 1; }, 10000));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Models, "modelFiles") >= 1; }, 10000));
        child<QTableView>(m_console->page(Session::Page::Models), "modelFiles")->selectRow(0);
        QVERIFY(child<QLabel>(m_console->page(Session::Page::Models), "memoryEstimate")->text().contains(QStringLiteral("needs about")));

        QVERIFY(w()->showPage(Session::Page::Users));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Users, "users") == 3; }, 10000));
        QVERIFY(w()->showPage(Session::Page::Audit));
        QVERIFY2(waitFor([&] { return m_console->rows(Session::Page::Audit, "auditRecords") >= 4; }, 10000),
                 qPrintable(QStringLiteral("%1 records; %2").arg(m_console->rows(Session::Page::Audit, "auditRecords")).arg(w()->lastMessage())));
        QVERIFY(w()->showPage(Session::Page::Alerts));
        QVERIFY(waitFor([&] { return m_console->page(Session::Page::Alerts)->findChild<QTableView*>()->model()->rowCount() >= 5; }, 10000));

        auto* dash = static_cast<ui::DashboardPage*>(m_console->page(Session::Page::Dashboard));
        QVERIFY(w()->showPage(Session::Page::Dashboard));
        const auto withData = [&] {
            int n = 0;
            for (ui::ChartPanel* c : dash->charts()) n += c->hasData();
            return n;
        };
        // Without a GPU: tokens/s, requests, latency, success, CPU, host memory and engine memory all draw.
        QVERIFY2(waitFor([&] { return withData() == int(dash->charts().size()); }, 20000),
                 qPrintable(QStringLiteral("%1 of %2 charts with data").arg(withData()).arg(dash->charts().size())));
        QVERIFY(dash->samplesSeen() > 0);
        QVERIFY(waitFor([&] { return dash->metricsSeen() > 0; }, 10000));
        QVERIFY(dash->charts().first()->savePng(m_console->dir.filePath(QStringLiteral("chart.png"))));
        QVERIFY(QFileInfo(m_console->dir.filePath(QStringLiteral("chart.png"))).size() > 1000);
    }

    void adminScreenshotsInBothLanguagesAndThemes() {
        for (const QString& lang : {QStringLiteral("en"), QStringLiteral("zh_CN")}) {
            QVERIFY(m_console->language->set(lang));
            screenshots(QString());
        }
        ui::applyTheme(ui::Theme::Dark);
        for (const QString& lang : {QStringLiteral("en"), QStringLiteral("zh_CN")}) {
            QVERIFY(m_console->language->set(lang));
            screenshots(QStringLiteral("dark_"));
        }
        ui::applyTheme(ui::Theme::Light);
        QVERIFY(m_console->language->set(QStringLiteral("en")));
        QTest::qWait(100);  // LanguageChange events are posted
        QCOMPARE(w()->windowTitle(), QStringLiteral("Enclave console"));
    }

    void errorsFollowTheLanguage() {
        // An engine error arrives in English; after switching to Chinese the message bar says it in Chinese
        // (the engine's own words stay apart, as data).
        QVERIFY(w()->showPage(Session::Page::Users));
        v1::DeleteUserRequest req;
        req.set_id(987654);
        m_console->client->call("Users.DeleteUser", &v1::Users::Stub::DeleteUser, req, w(), [](const v1::DeleteUserReply&) {});
        QVERIFY(waitFor([&] { return w()->lastMessage().startsWith(QStringLiteral("Users.DeleteUser: not found")); }, 10000));
        QVERIFY(w()->lastMessageIsError());
        QVERIFY(m_console->language->set(QStringLiteral("zh_CN")));
        QTest::qWait(100);
        QVERIFY2(w()->lastMessage().startsWith(QStringLiteral("Users.DeleteUser")) && w()->lastMessage().contains(QStringLiteral("未找到")), qPrintable(w()->lastMessage()));
        QStringList left = test::englishLeft(w());
        QVERIFY2(left.isEmpty(), qPrintable(left.join(QLatin1Char('\n'))));
        // A console-side notice too (the chat's finish reason and a model-page hint).
        QVERIFY(w()->showPage(Session::Page::Models));
        child<QTableView>(m_console->page(Session::Page::Models), "modelFiles")->clearSelection();
        child<QPushButton>(m_console->page(Session::Page::Models), "loadModel")->click();
        QVERIFY(w()->lastMessage().contains(QStringLiteral("模型")));
        left = test::englishLeft(w());
        QVERIFY2(left.isEmpty(), qPrintable(left.join(QLatin1Char('\n'))));
        auto* chat = static_cast<ui::ChatPage*>(m_console->page(Session::Page::Chat));
        const QString md = chat->view()->renderedMarkdown();
        QVERIFY2(!md.contains(QStringLiteral("finished")) && !md.contains(QStringLiteral(" eos")) && !md.contains(QStringLiteral("Assistant")), qPrintable(md));
        QVERIFY(m_console->language->set(QStringLiteral("en")));
        QTest::qWait(100);
        QVERIFY2(w()->lastMessage().startsWith(QStringLiteral("Select a model file")), qPrintable(w()->lastMessage()));
    }

    void revokedSessionBringsTheLoginBackAndKeepsThePage() {
        QVERIFY(w()->showPage(Session::Page::Audit));
        auto* text = child<QLineEdit>(m_console->page(Session::Page::Audit), "auditText");
        text->setText(QStringLiteral("user.create"));
        // The session ends on the engine's side (as when an admin disables the user or it times out).
        bool done = false;
        m_console->client->call("Auth.Logout", &v1::Auth::Stub::Logout, v1::LogoutRequest{}, w(),
                                [&](const v1::LogoutReply&) { done = true; });
        QVERIFY(waitFor([&] { return done; }, 10000));
        child<QPushButton>(m_console->page(Session::Page::Audit), "search")->click();
        QString why;
        QVERIFY2(m_console->loginThroughDialog(QStringLiteral("admin"), test::kAdminPassword, &why), qPrintable(why));
        QCOMPARE(w()->visiblePages().size(), 8);
        QCOMPARE(text->text(), QStringLiteral("user.create"));  // the page kept its state
        QVERIFY(m_console->page(Session::Page::Audit)->isVisible());
        child<QPushButton>(m_console->page(Session::Page::Audit), "search")->click();
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Audit, "auditRecords") >= 2; }, 10000));
        text->clear();
    }

    void analystPagesWithLiveData() {
        signOutAndIn(QStringLiteral("ana"), kAnalystPassword);
        QCOMPARE(m_console->session->role(), Session::Role::Analyst);
        QCOMPARE(w()->visiblePages(), (QList<Session::Page>{Session::Page::Connect, Session::Page::Models, Session::Page::Chat,
                                                            Session::Page::Settings}));
        QVERIFY(!w()->showPage(Session::Page::Users));
        QVERIFY(w()->showPage(Session::Page::Models));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Models, "servedModels") == 1; }, 10000));
        QVERIFY(!child<QTableView>(m_console->page(Session::Page::Models), "modelFiles")->isVisibleTo(w()));
        QVERIFY(w()->showPage(Session::Page::Chat));
        auto* chat = static_cast<ui::ChatPage*>(m_console->page(Session::Page::Chat));
        // The admin's conversation is not the analyst's.
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Chat, "conversations") == 0; }, 10000));
        child<QPushButton>(chat, "newConversation")->click();
        QSignalSpy finished(chat, &ui::ChatPage::answerFinished);
        child<QPlainTextEdit>(chat, "chatInput")->setPlainText(QStringLiteral("Name three colours."));
        child<QPushButton>(chat, "send")->click();
        QVERIFY(finished.wait(90000));
        QVERIFY2(finished.first().first().toString() != QLatin1String("error"), qPrintable(w()->lastMessage()));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Chat, "conversations") == 1; }, 10000));
        QVERIFY2(!w()->lastMessageIsError() || !w()->findChild<QWidget*>(QStringLiteral("messageBar"))->isVisible(),
                 qPrintable(w()->lastMessage()));
        for (const QString& lang : {QStringLiteral("en"), QStringLiteral("zh_CN")}) {
            QVERIFY(m_console->language->set(lang));
            screenshots(QStringLiteral("analyst_"));
        }
        QVERIFY(m_console->language->set(QStringLiteral("en")));
    }

    void auditorPagesWithLiveData() {
        signOutAndIn(QStringLiteral("audrey"), kAuditorPassword);
        QCOMPARE(m_console->session->role(), Session::Role::Auditor);
        QCOMPARE(w()->visiblePages(), (QList<Session::Page>{Session::Page::Connect, Session::Page::Dashboard, Session::Page::Audit,
                                                            Session::Page::Settings}));
        QVERIFY(w()->showPage(Session::Page::Audit));
        auto* audit = static_cast<ui::AuditPage*>(m_console->page(Session::Page::Audit));
        QVERIFY2(waitFor([&] { return m_console->rows(Session::Page::Audit, "auditRecords") >= 4; }, 10000), qPrintable(w()->lastMessage()));
        child<QTableView>(audit, "auditRecords")->selectRow(0);
        QVERIFY(waitFor([&] { return child<QPlainTextEdit>(audit, "auditDetails")->toPlainText().contains(QStringLiteral("Hash:")); }, 5000));
        QSignalSpy verified(audit, &ui::AuditPage::verifyFinished);
        child<QPushButton>(audit, "verify")->click();
        QVERIFY(verified.wait(30000));
        QVERIFY(verified.first().first().toBool());
        QVERIFY(child<QLabel>(audit, "verifyState")->text().startsWith(QStringLiteral("Chain intact")));
        QSignalSpy exported(audit, &ui::AuditPage::exportFinished);
        audit->exportTo(m_console->dir.filePath(QStringLiteral("audit.csv")), QStringLiteral("csv"));
        QVERIFY(exported.wait(30000));
        QVERIFY(exported.first().first().toBool());
        QFile csv(m_console->dir.filePath(QStringLiteral("audit.csv")));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        QVERIFY(csv.readAll().contains("user.create"));
        auto* dash = static_cast<ui::DashboardPage*>(m_console->page(Session::Page::Dashboard));
        QVERIFY(w()->showPage(Session::Page::Dashboard));
        QVERIFY(waitFor([&] { return dash->charts().first()->hasData(); }, 20000));
        for (const QString& lang : {QStringLiteral("en"), QStringLiteral("zh_CN")}) {
            QVERIFY(m_console->language->set(lang));
            screenshots(QStringLiteral("auditor_"));
        }
        QVERIFY(m_console->language->set(QStringLiteral("en")));
    }

    void cleanupTestCase() { m_console.reset(); }
};

QTEST_MAIN(TstUiSmoke)
#include "tst_ui_smoke.moc"
