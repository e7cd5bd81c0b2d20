// issue 5's "Done when", driven through the widgets as an admin would, in one run: start a local engine
// from the Connect page, create the first admin in the first-run wizard, load a model on the Models page
// (progress bar, memory estimate), chat with it, create an analyst on the Users page, and verify the audit
// log on the Audit page, where the steps before are recorded.
#include <QInputDialog>
#include <QProgressBar>

#include "console_fixture.h"
#include "ui/pages/audit_page.h"
#include "ui/pages/chat_page.h"

using namespace enclave;
using app::Session;
using test::child;
using test::waitFor;

class TstAdminFlow : public QObject {
    Q_OBJECT
private slots:
    void fromDeployToVerifiedAuditLog() {
        test::Console console;
        ui::MainWindow* w = console.window.get();
        QVERIFY2(QFileInfo(console.engine).isExecutable(), qPrintable(console.engine));

        // 1. Deploy: "Start engine"; the wizard asks for the first admin.
        console.deploy();
        QString why;
        QVERIFY2(console.bootstrapThroughWizard(QStringLiteral("admin"), &why), qPrintable(why));
        QCOMPARE(console.session->role(), Session::Role::Admin);

        // 2. Models: pick the file, see its memory estimate, load it under a second name with progress.
        ui::Page* models = console.page(Session::Page::Models);
        QVERIFY(w->showPage(Session::Page::Models));
        QVERIFY(waitFor([&] { return console.rows(Session::Page::Models, "modelFiles") >= 1; }, 15000));
        QVERIFY(waitFor([&] { return console.rows(Session::Page::Models, "servedModels") == 1; }, 15000));
        child<QTableView>(models, "modelFiles")->selectRow(0);
        QVERIFY(child<QLabel>(models, "memoryEstimate")->text().contains(QStringLiteral("needs about")));
        test::whenDialogShows([](QDialog* dlg) { dlg->findChild<QLineEdit*>()->setText(QStringLiteral("assistant")); });
        auto* progress = child<QProgressBar>(models, "loadProgress");
        int maxSeen = 0;
        QTimer sampler;
        connect(&sampler, &QTimer::timeout, this, [&] { maxSeen = std::max(maxSeen, progress->value()); });
        sampler.start(10);
        child<QPushButton>(models, "loadModel")->click();
        QVERIFY2(waitFor([&] { return console.rows(Session::Page::Models, "servedModels") == 2; }, 60000), qPrintable(w->lastMessage()));
        QCOMPARE(progress->value(), progress->maximum());
        QVERIFY(maxSeen > 0);
        QVERIFY2(w->lastMessage().contains(QStringLiteral("assistant is serving")), qPrintable(w->lastMessage()));

        // 3. Chat with the model just loaded; the conversation is kept by the engine.
        ui::Page* chatPage = console.page(Session::Page::Chat);
        auto* chat = static_cast<ui::ChatPage*>(chatPage);
        QVERIFY(w->showPage(Session::Page::Chat));
        auto* model = child<QComboBox>(chatPage, "chatModel");
        QVERIFY(waitFor([&] { return model->findText(QStringLiteral("assistant")) >= 0; }, 10000));
        model->setCurrentIndex(model->findText(QStringLiteral("assistant")));
        QSignalSpy finished(chat, &ui::ChatPage::answerFinished);
        QTest::keyClicks(child<QPlainTextEdit>(chatPage, "chatInput"), QStringLiteral("Say hello to the new team."));
        child<QPushButton>(chatPage, "send")->click();
        QVERIFY(finished.wait(90000));
        QVERIFY2(finished.first().first().toString() != QLatin1String("error"), qPrintable(w->lastMessage()));
        QVERIFY(!chat->turns().last().content.trimmed().isEmpty());
        QVERIFY(waitFor([&] { return console.rows(Session::Page::Chat, "conversations") == 1; }, 10000));

        // 4. Users: a new analyst through the "New user" dialog.
        ui::Page* users = console.page(Session::Page::Users);
        QVERIFY(w->showPage(Session::Page::Users));
        QVERIFY(waitFor([&] { return console.rows(Session::Page::Users, "users") == 1; }, 10000));
        test::whenDialogShows([](QDialog* dlg) {
            child<QLineEdit>(dlg, "userName")->setText(QStringLiteral("analyst1"));
            auto* role = child<QComboBox>(dlg, "userRole");
            role->setCurrentIndex(0);  // analyst
            child<QLineEdit>(dlg, "userPassword")->setText(QStringLiteral("Tr0ubadour-And-Three-Dogs"));
            child<QLineEdit>(dlg, "userPassword2")->setText(QStringLiteral("Tr0ubadour-And-Three-Dogs"));
        });
        child<QPushButton>(users, "newUser")->click();
        QVERIFY2(waitFor([&] { return console.rows(Session::Page::Users, "users") == 2; }, 15000), qPrintable(w->lastMessage()));
        auto* userView = child<QTableView>(users, "users");
        QStringList names;
        for (int r = 0; r < userView->model()->rowCount(); ++r) names << userView->model()->index(r, 0).data().toString();
        QVERIFY2(names.contains(QStringLiteral("analyst1")), qPrintable(names.join(QLatin1Char(','))));

        // 5. Audit: the log records the steps, and its chain verifies.
        auto* audit = static_cast<ui::AuditPage*>(console.page(Session::Page::Audit));
        QVERIFY(w->showPage(Session::Page::Audit));
        child<QPushButton>(audit, "search")->click();
        QVERIFY(waitFor([&] { return console.rows(Session::Page::Audit, "auditRecords") > 3; }, 10000));
        QString actions;
        auto* records = child<QTableView>(audit, "auditRecords")->model();
        for (int r = 0; r < records->rowCount(); ++r)
            for (int c = 0; c < records->columnCount(); ++c) actions += records->index(r, c).data().toString() + QLatin1Char(' ');
        for (const char* action : {"model.load", "user.create", "analyst1"})
            QVERIFY2(actions.contains(QLatin1String(action)), qPrintable(QStringLiteral("%1 not in: %2").arg(QLatin1String(action), actions)));
        QSignalSpy verified(audit, &ui::AuditPage::verifyFinished);
        child<QPushButton>(audit, "verify")->click();
        QVERIFY(verified.wait(30000));
        QVERIFY(verified.first().first().toBool());
        QVERIFY(child<QLabel>(audit, "verifyState")->text().startsWith(QStringLiteral("Chain intact")));
        QCOMPARE(child<QProgressBar>(audit, "auditProgress")->value(), 1000);

        // And the new analyst can sign in: Chat, not Users.
        child<QPushButton>(w, "signOut")->click();
        QVERIFY2(console.loginThroughDialog(QStringLiteral("analyst1"), QStringLiteral("Tr0ubadour-And-Three-Dogs"), &why), qPrintable(why));
        QCOMPARE(console.session->role(), Session::Role::Analyst);
        QVERIFY(w->showPage(Session::Page::Chat));
        QVERIFY(!w->showPage(Session::Page::Users));
    }
};

QTEST_MAIN(TstAdminFlow)
#include "tst_admin_flow.moc"
