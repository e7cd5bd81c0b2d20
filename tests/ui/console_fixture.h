// The console as a user meets it, for the UI tests: the services main() builds, a MainWindow on the
// offscreen platform, a local engine deployed from the Connect page, and helpers that act through the
// widgets (the bootstrap wizard, the login dialog, modal dialogs, buttons), plus the check that a
// Chinese UI shows no English words. Header-only; each test executable includes it once.
#pragma once

#include <QAbstractButton>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QSettings>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>
#include <functional>
#include <memory>

#include "app/engine_client.h"
#include "app/engine_process.h"
#include "app/session.h"
#include "ui/dialogs/bootstrap_dialog.h"
#include "ui/dialogs/login_dialog.h"
#include "ui/language.h"
#include "ui/main_window.h"
#include "ui/page.h"
#include "ui/pages/connect_page.h"
#include "ui/theme.h"

namespace enclave::test {

inline const QString kAdminPassword = QStringLiteral("Correct-Horse-Battery-Staple-9");

template <class F>
bool waitFor(F f, int ms) {
    QDeadlineTimer deadline(ms);
    while (!f() && !deadline.hasExpired()) QTest::qWait(25);
    return f();
}

// The top-level dialog of type T that is visible now (the login dialog, the wizard, a QInputDialog...).
template <class T = QDialog>
T* visibleDialog() {
    for (QWidget* w : QApplication::topLevelWidgets())
        if (auto* d = qobject_cast<T*>(w); d && d->isVisible()) return d;
    return nullptr;
}

// Runs `fill` on the next modal dialog as soon as it shows (from inside its exec() loop), then presses OK.
inline void whenDialogShows(std::function<void(QDialog*)> fill) {
    auto* timer = new QTimer;
    timer->setInterval(50);
    QObject::connect(timer, &QTimer::timeout, timer, [timer, fill] {
        auto* dlg = qobject_cast<QDialog*>(QApplication::activeModalWidget());
        if (!dlg || !dlg->isVisible()) return;
        timer->stop();
        timer->deleteLater();
        fill(dlg);
        if (auto* box = dlg->findChild<QDialogButtonBox*>(); box && box->button(QDialogButtonBox::Ok))
            box->button(QDialogButtonBox::Ok)->click();
        else
            dlg->accept();
    });
    timer->start();
}

template <class T>
T* child(QObject* root, const char* name) {
    return root->findChild<T*>(QString::fromLatin1(name));
}

class Console {
public:
    QTemporaryDir dir;
    std::unique_ptr<QSettings> settings;
    std::unique_ptr<ui::Language> language;
    std::unique_ptr<app::EngineClient> client;
    std::unique_ptr<app::EngineProcess> process;
    std::unique_ptr<app::Session> session;
    std::unique_ptr<app::ProfileStore> profiles;
    std::unique_ptr<ui::MainWindow> window;
    QString engine = qEnvironmentVariable("ENCLAVE_ENGINE");
    QString model = qEnvironmentVariable("ENCLAVE_DEFAULT_MODEL");

    Console() {
        settings = std::make_unique<QSettings>(dir.filePath(QStringLiteral("console.ini")), QSettings::IniFormat);
        ui::applyTheme(ui::Theme::Light);
        language = std::make_unique<ui::Language>();
        language->set(QStringLiteral("en"));
        client = std::make_unique<app::EngineClient>();
        client->setPollInterval(500);
        process = std::make_unique<app::EngineProcess>();
        session = std::make_unique<app::Session>(*client);
        profiles = std::make_unique<app::ProfileStore>(*settings);
        window = std::make_unique<ui::MainWindow>(*client, *process, *session, *profiles, *language, *settings);
        window->resize(1400, 900);
        window->show();
    }
    ~Console() {
        window.reset();
        process.reset();  // stops the engine
        session.reset();
        client.reset();
    }

    // The local profile the Connect page shows: this build's engine, the default model's directory.
    app::ConnectionProfile localProfile() {
        app::ConnectionProfile p = app::ConnectionProfile::defaultLocal(engine);
        p.modelDir = QFileInfo(model).absolutePath();
        p.models = {QFileInfo(model).fileName()};
        p.stateDir = dir.filePath(QStringLiteral("state"));
        p.socketPath = dir.filePath(QStringLiteral("engine.sock"));
        p.threads = 2;
        return p;
    }

    // Presses "Start engine" on the Connect page with the local profile.
    void deploy() {
        window->connectPage()->setProfile(localProfile());
        window->showPage(app::Session::Page::Connect);
        child<QPushButton>(window.get(), "startEngine")->click();
    }

    // The first-run wizard: waits for it, confirms the secret it read, chooses the admin's name and password.
    bool bootstrapThroughWizard(const QString& name = QStringLiteral("admin"), QString* why = nullptr) {
        if (!waitFor([] { return visibleDialog<ui::BootstrapDialog>() != nullptr; }, 120000)) {
            if (why) *why = QStringLiteral("no wizard; log:\n") + process->log().join(QLatin1Char('\n'));
            return false;
        }
        auto* wizard = visibleDialog<ui::BootstrapDialog>();
        auto* ok = wizard->findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok);
        if (child<QLineEdit>(wizard, "secret")->text().size() < 32 || ok->isEnabled()) {
            if (why) *why = QStringLiteral("the wizard did not read the secret, or did not ask to confirm it");
            return false;
        }
        child<QCheckBox>(wizard, "confirmSecret")->setChecked(true);
        child<QLineEdit>(wizard, "adminName")->setText(name);
        child<QLineEdit>(wizard, "password")->setText(kAdminPassword);
        child<QLineEdit>(wizard, "password2")->setText(kAdminPassword);
        QSignalSpy signedIn(session.get(), &app::Session::signedIn);
        ok->click();
        if (!signedIn.wait(30000)) {
            if (why) *why = QStringLiteral("not signed in: ") + child<QLabel>(wizard, "error")->text();
            return false;
        }
        return session->role() == app::Session::Role::Admin;
    }

    // The login dialog: waits for it and signs in.
    bool loginThroughDialog(const QString& user, const QString& password, QString* why = nullptr) {
        if (!waitFor([] { return visibleDialog<ui::LoginDialog>() != nullptr; }, 20000)) {
            if (why) *why = QStringLiteral("no login dialog");
            return false;
        }
        auto* login = visibleDialog<ui::LoginDialog>();
        child<QLineEdit>(login, "user")->setText(user);
        child<QLineEdit>(login, "password")->setText(password);
        QSignalSpy signedIn(session.get(), &app::Session::signedIn);
        login->findChild<QDialogButtonBox*>()->button(QDialogButtonBox::Ok)->click();
        if (!signedIn.wait(30000)) {
            if (why) *why = QStringLiteral("login failed: ") + child<QLabel>(login, "error")->text();
            return false;
        }
        return waitFor([] { return visibleDialog<ui::LoginDialog>() == nullptr; }, 5000);
    }

    // A user created through the engine as the signed-in admin.
    bool createUser(const QString& name, v1::Role role, const QString& password) {
        v1::CreateUserRequest req;
        req.set_name(name.toStdString());
        req.set_role(role);
        req.set_password(password.toStdString());
        bool done = false, ok = false;
        client->call("Users.CreateUser", &v1::Users::Stub::CreateUser, req, window.get(), [&](const v1::User&) { done = ok = true; },
                     [&](const app::EngineError& e) {
                         qWarning("%s", qPrintable(e.text()));
                         done = true;
                     });
        waitFor([&] { return done; }, 20000);
        return ok;
    }

    ui::Page* page(app::Session::Page p) const { return window->page(p); }
    template <class T = QTableView>
    int rows(app::Session::Page p, const char* view) const {
        auto* v = child<T>(page(p), view);
        return v && v->model() ? v->model()->rowCount() : -1;
    }
};

// Visible texts a user reads that still have English words in them (names, paths, numbers, units and
// the engine's own messages aside), each with the widget it is on.
inline QStringList englishLeft(QWidget* root) {
    static const QRegularExpression word(QStringLiteral("[A-Za-z]{3,}"));
    static const QSet<QString> names = {"Enclave", "GPU", "CPU", "RAM", "VRAM", "TLS", "PEM", "CSV", "JSON", "PNG", "Markdown",
                                        "gRPC", "HTTP", "OpenAI", "API", "English", "SIGTERM", "GiB", "MiB", "KiB", "TiB",
                                        "cpu", "cuda", "KV", "TTFT", "SHA", "llama", "qwen", "Top"};
    QStringList problems;
    const auto check = [&](QWidget* w, const QString& text) {
        for (const QString& token : text.split(QRegularExpression(QStringLiteral("[\\s,;()（）：，。“”、]+")), Qt::SkipEmptyParts)) {
            // Paths, file names, addresses, method and model names are data, not language.
            if (token.contains(QRegularExpression(QStringLiteral("[/._\\d=@:-]")))) continue;
            for (auto it = word.globalMatch(token); it.hasNext();) {
                const QString m = it.next().captured();
                if (!names.contains(m))
                    problems << QStringLiteral("%1 %2: '%3' in '%4'")
                                    .arg(QString::fromLatin1(w->metaObject()->className()), w->objectName(), m, text);
            }
        }
    };
    QList<QWidget*> widgets = root->findChildren<QWidget*>();
    widgets.prepend(root);
    for (QWidget* w : widgets) {
        if (!w->isVisibleTo(root) && w != root) continue;
        bool data = false;
        for (QWidget* p = w; p; p = p->parentWidget())
            data |= p->property("enclaveEngineText").toBool() || p->property("enclaveData").toBool();
        if (data) continue;
        if (w == root || w->isWindow()) check(w, w->windowTitle());
        if (auto* l = qobject_cast<QLabel*>(w)) check(w, l->text());
        if (auto* b = qobject_cast<QAbstractButton*>(w)) check(w, b->text());
        if (auto* g = qobject_cast<QGroupBox*>(w)) check(w, g->title());
        if (auto* e = qobject_cast<QLineEdit*>(w)) check(w, e->placeholderText());
        if (auto* e = qobject_cast<QPlainTextEdit*>(w); e && !e->isReadOnly()) check(w, e->placeholderText());
        if (auto* c = qobject_cast<QComboBox*>(w); c && !c->isEditable())
            for (int i = 0; i < c->count(); ++i) check(w, c->itemText(i));
        if (auto* h = qobject_cast<QHeaderView*>(w); h && h->model())
            for (int i = 0; i < h->count(); ++i) check(w, h->model()->headerData(i, h->orientation()).toString());
        if (auto* list = qobject_cast<QListWidget*>(w))
            for (int i = 0; i < list->count(); ++i)
                if (!list->item(i)->isHidden()) check(w, list->item(i)->text());
    }
    return problems;
}

}  // namespace enclave::test
