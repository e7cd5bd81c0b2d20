// The Users page through its widgets against a real engine, each action checked on the engine's side:
// a disabled user cannot sign in and loses the session it had, enabling lets it back; a reset password
// replaces the old one; per-user limits are stored and enforced (a second request within the minute is
// refused); a role change is what the engine reports; an API key is shown once (its secret works as a
// credential, is not in the key table, and stops working when revoked); a deleted user cannot sign in.
#include <QInputDialog>
#include <QMessageBox>
#include <QSpinBox>

#include "console_fixture.h"
#include "ui/dialogs/secret_dialog.h"
#include "ui/pages/users_page.h"

using namespace enclave;
using app::Session;
using test::child;
using test::waitFor;

namespace {
const QString kBobPassword = QStringLiteral("Tr0ubadour-And-Three-Dogs");
const QString kBobNewPassword = QStringLiteral("Seven-Lazy-Otters-Swim-Home");
const QString kCarolPassword = QStringLiteral("Purple-Monkey-Dishwasher-42");
}  // namespace

class TstUsersPage : public QObject {
    Q_OBJECT
    std::unique_ptr<test::Console> m_console;

    ui::Page* page() const { return m_console->page(Session::Page::Users); }
    QTableView* users() const { return child<QTableView>(page(), "users"); }
    QTableView* keys() const { return child<QTableView>(page(), "keys"); }
    ui::MainWindow* w() const { return m_console->window.get(); }
    void click(const char* button) const { child<QPushButton>(page(), button)->click(); }

    // The engine's record of a user, by name (an empty record when it has none).
    v1::User engineUser(const QString& name) const {
        const auto r =
            test::ask(*m_console->client, "Users.ListUsers", &v1::Users::Stub::ListUsers, v1::ListUsersRequest{});
        if (r)
            for (const auto& u : r->users())
                if (QString::fromStdString(u.name()) == name) return u;
        return {};
    }
    bool select(const QString& name) const {
        return waitFor([&] { return test::selectRow(users(), app::UsersModel::Name, name); }, 10000);
    }

private slots:
    void initTestCase() {
        m_console = std::make_unique<test::Console>();
        QString why;
        QVERIFY2(m_console->deployAndBootstrap(&why), qPrintable(why));
        QVERIFY(m_console->createUser(QStringLiteral("bob"), v1::ROLE_ANALYST, kBobPassword));
        QVERIFY(m_console->createUser(QStringLiteral("carol"), v1::ROLE_AUDITOR, kCarolPassword));
        QVERIFY(w()->showPage(Session::Page::Users));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Users, "users") == 3; }, 10000));
    }

    void actionsNeedASelection() {
        users()->clearSelection();
        click("toggleDisabled");
        QVERIFY2(w()->lastMessageIsError() && w()->lastMessage() == QStringLiteral("Select a user first."),
                 qPrintable(w()->lastMessage()));
    }

    void disableEndsSessionsAndRefusesLogin() {
        const QString token = m_console->loginElsewhere(QStringLiteral("bob"), kBobPassword);
        QVERIFY(!token.isEmpty());
        auto bob = m_console->otherClient(token);
        QVERIFY(test::ask(*bob, "Auth.WhoAmI", &v1::Auth::Stub::WhoAmI, v1::WhoAmIRequest{}));

        QVERIFY(select(QStringLiteral("bob")));
        click("toggleDisabled");
        QVERIFY2(waitFor([&] { return engineUser(QStringLiteral("bob")).disabled(); }, 10000),
                 qPrintable(w()->lastMessage()));
        QString why;
        QVERIFY(m_console->loginElsewhere(QStringLiteral("bob"), kBobPassword, &why).isEmpty());
        QVERIFY2(!why.isEmpty(), "the refusal has no reason");
        QVERIFY(
            !test::ask(*bob, "Auth.WhoAmI", &v1::Auth::Stub::WhoAmI, v1::WhoAmIRequest{}, &why));  // the session ended
        QVERIFY(waitFor([&] { return test::tableText(users()).contains(QStringLiteral("bob | analyst | disabled")); },
                        10000));
        QCOMPARE(w()->lastMessage(), QStringLiteral("Disabled bob"));

        // The row stayed selected through the reload: the same button enables bob again.
        const auto selected = users()->selectionModel()->selectedRows();
        QVERIFY2(selected.size() == 1 && selected.first().data().toString() == QStringLiteral("bob"),
                 "the reload lost the selection");
        click("toggleDisabled");
        QVERIFY(waitFor([&] { return !engineUser(QStringLiteral("bob")).disabled(); }, 10000));
        QVERIFY2(!m_console->loginElsewhere(QStringLiteral("bob"), kBobPassword, &why).isEmpty(), qPrintable(why));
    }

    void resetPassword() {
        QVERIFY(select(QStringLiteral("bob")));
        test::whenDialogShows([](QDialog* dlg) { qobject_cast<QInputDialog*>(dlg)->setTextValue(kBobNewPassword); });
        click("resetPassword");
        QString why;
        QVERIFY2(
            waitFor([&] { return !m_console->loginElsewhere(QStringLiteral("bob"), kBobNewPassword, &why).isEmpty(); },
                    10000),
            qPrintable(why + QLatin1Char(' ') + w()->lastMessage()));
        QVERIFY(m_console->loginElsewhere(QStringLiteral("bob"), kBobPassword, &why).isEmpty());
    }

    void limitsAreStoredAndEnforced() {
        QVERIFY(select(QStringLiteral("bob")));
        test::whenDialogShows([](QDialog* dlg) {
            child<QSpinBox>(dlg, "requestsPerMinute")->setValue(1);
            child<QSpinBox>(dlg, "tokensPerMinute")->setValue(5000);
            child<QSpinBox>(dlg, "concurrentStreams")->setValue(2);
        });
        click("editLimits");
        QVERIFY2(waitFor([&] { return engineUser(QStringLiteral("bob")).limits().requests_per_minute() == 1; }, 10000),
                 qPrintable(w()->lastMessage()));
        const v1::Limits limits = engineUser(QStringLiteral("bob")).limits();
        QCOMPARE(limits.tokens_per_minute(), 5000);
        QCOMPARE(limits.concurrent_streams(), 2);
        QVERIFY(waitFor(
            [&] { return test::tableText(users()).contains(QStringLiteral("1 req/min, 5000 tokens/min, 2 streams")); },
            10000));

        // One request a minute: bob's first generation is served, the second refused.
        auto bob = m_console->otherClient(m_console->loginElsewhere(QStringLiteral("bob"), kBobNewPassword));
        QString why;
        QVERIFY2(test::generateOnce(*bob, &why), qPrintable(why));
        QVERIFY(!test::generateOnce(*bob, &why));
        QVERIFY2(why.contains(QStringLiteral("RESOURCE_EXHAUSTED")) || why.contains(QStringLiteral("limit")),
                 qPrintable(why));
    }

    void changeRole() {
        QVERIFY(select(QStringLiteral("bob")));
        QString offered;
        test::whenDialogShows([&offered](QDialog* dlg) {
            auto* input = qobject_cast<QInputDialog*>(dlg);
            offered = input->textValue();  // the current role is preselected
            input->setTextValue(QStringLiteral("auditor"));
        });
        click("changeRole");
        QCOMPARE(offered, QStringLiteral("analyst"));
        QVERIFY2(waitFor([&] { return engineUser(QStringLiteral("bob")).role() == v1::ROLE_AUDITOR; }, 10000),
                 qPrintable(w()->lastMessage()));
        auto bob = m_console->otherClient(m_console->loginElsewhere(QStringLiteral("bob"), kBobNewPassword));
        const auto me = test::ask(*bob, "Auth.WhoAmI", &v1::Auth::Stub::WhoAmI, v1::WhoAmIRequest{});
        QVERIFY(me && me->user().role() == v1::ROLE_AUDITOR);
        QVERIFY(waitFor([&] { return test::tableText(users()).contains(QStringLiteral("bob | auditor")); }, 10000));
    }

    void apiKeyShownOnceThenRevoked() {
        // A key for carol, an auditor: the key takes her role.
        QVERIFY(select(QStringLiteral("carol")));
        QString secret, note;
        bool roleFixed = false;
        test::whenDialogsShow({[&roleFixed](QDialog* dlg) {
                                   child<QLineEdit>(dlg, "keyName")->setText(QStringLiteral("ci-export"));
                                   child<QSpinBox>(dlg, "keyExpiresDays")->setValue(30);
                                   roleFixed =
                                       !child<QComboBox>(dlg, "keyRole")->isEnabled() &&
                                       child<QComboBox>(dlg, "keyRole")->currentText() == QStringLiteral("auditor");
                               },
                               [&secret, &note](QDialog* dlg) {
                                   QVERIFY(qobject_cast<ui::SecretDialog*>(dlg));
                                   secret = child<QLineEdit>(dlg, "secret")->text();
                                   for (auto* l : dlg->findChildren<QLabel*>()) note += l->text();
                                   dlg->findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Close)->click();
                               }});
        click("newKey");
        QVERIFY(roleFixed);
        QVERIFY2(waitFor([&] { return !secret.isEmpty(); }, 10000), qPrintable(w()->lastMessage()));
        QVERIFY2(note.contains(QStringLiteral("shown only now")), qPrintable(note));

        // The key table shows its prefix, never the secret.
        QVERIFY(waitFor([&] { return test::tableText(keys()).contains(QStringLiteral("ci-export")); }, 10000));
        const QString table = test::tableText(keys());
        QVERIFY2(!table.contains(secret), qPrintable(table));
        const int row =
            keys()
                ->model()
                ->match(keys()->model()->index(0, app::KeysModel::Name), Qt::DisplayRole, QStringLiteral("ci-export"))
                .first()
                .row();
        QString prefix = keys()->model()->index(row, app::KeysModel::Prefix).data().toString();
        prefix.chop(1);  // the ellipsis
        QVERIFY2(prefix.size() >= 4 && secret.startsWith(prefix), qPrintable(prefix));

        // The engine keeps it for carol with her role, and the secret works as a credential.
        v1::ListKeysRequest list;
        list.set_user_id(engineUser(QStringLiteral("carol")).id());
        auto stored = test::ask(*m_console->client, "Users.ListKeys", &v1::Users::Stub::ListKeys, list);
        QVERIFY(stored && stored->keys_size() == 1);
        QCOMPARE(stored->keys(0).role(), v1::ROLE_AUDITOR);
        QVERIFY(!stored->keys(0).revoked());
        QVERIFY(qAbs(stored->keys(0).expires_ms() - (QDateTime::currentMSecsSinceEpoch() + 30LL * 86400000)) < 3600000);
        auto withKey = m_console->otherClient(secret);
        QString why;
        QVERIFY2(test::ask(*withKey, "Audit.Query", &v1::Audit::Stub::Query, v1::AuditQuery{}, &why), qPrintable(why));

        // Revoked through the page: the engine refuses the secret from then on.
        QVERIFY(test::selectRow(keys(), app::KeysModel::Name, QStringLiteral("ci-export")));
        click("revokeKey");
        QVERIFY(waitFor(
            [&] {
                return test::ask(*m_console->client, "Users.ListKeys", &v1::Users::Stub::ListKeys, list)
                    ->keys(0)
                    .revoked();
            },
            10000));
        QVERIFY(!test::ask(*withKey, "Audit.Query", &v1::Audit::Stub::Query, v1::AuditQuery{}, &why));
        QVERIFY2(why.contains(QStringLiteral("revoked")), qPrintable(why));
        QVERIFY(waitFor([&] { return test::tableText(keys()).contains(QStringLiteral("revoked")); }, 10000));
    }

    void deleteUser() {
        QVERIFY(select(QStringLiteral("carol")));
        test::whenDialogShows([](QDialog* dlg) {
            auto* box = qobject_cast<QMessageBox*>(dlg);
            QVERIFY(box && box->text().contains(QStringLiteral("carol")));
            box->button(QMessageBox::Yes)->click();
        });
        click("deleteUser");
        QVERIFY2(waitFor([&] { return engineUser(QStringLiteral("carol")).name().empty(); }, 10000),
                 qPrintable(w()->lastMessage()));
        QVERIFY(m_console->loginElsewhere(QStringLiteral("carol"), kCarolPassword).isEmpty());
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Users, "users") == 2; }, 10000));
        QCOMPARE(w()->lastMessage(), QStringLiteral("Deleted the user carol"));
    }

    void cleanupTestCase() { m_console.reset(); }
};

QTEST_MAIN(TstUsersPage)
#include "tst_users_page.moc"
