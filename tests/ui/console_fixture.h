// The console as a user meets it, for the UI tests: the services main() builds, a MainWindow on the
// offscreen platform, a local engine deployed from the Connect page, and helpers that act through the
// widgets (the bootstrap wizard, the login dialog, modal dialogs, buttons), plus the check that a
// Chinese UI shows no English words. Header-only; each test executable includes it once.
#pragma once

#include <qcustomplot.h>
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
#include <QPointer>
#include <QPushButton>
#include <QRegularExpression>
#include <QSettings>
#include <QSignalSpy>
#include <QTableView>
#include <QTemporaryDir>
#include <QtTest>
#include <functional>
#include <memory>
#include <optional>

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

// Answers the next modal dialogs in turn, as a user would: each `fill` runs on one dialog (from inside its
// exec() loop) as soon as it shows, then OK is pressed, unless `fill` closed the dialog itself (a
// QMessageBox's Yes, a dialog's Close).
inline void whenDialogsShow(QList<std::function<void(QDialog*)>> fills) {
    auto* timer = new QTimer(qApp);
    auto queue = std::make_shared<QList<std::function<void(QDialog*)>>>(std::move(fills));
    auto last = std::make_shared<QPointer<QDialog>>();
    timer->setInterval(50);
    QObject::connect(timer, &QTimer::timeout, timer, [timer, queue, last] {
        auto* dlg = qobject_cast<QDialog*>(QApplication::activeModalWidget());
        if (!dlg || !dlg->isVisible() || dlg == last->data()) return;
        *last = dlg;
        const auto fill = queue->takeFirst();
        if (queue->isEmpty()) {
            timer->stop();
            timer->deleteLater();
        }
        QPointer<QDialog> alive(dlg);
        fill(dlg);
        if (!alive || !alive->isVisible()) return;
        if (auto* box = alive->findChild<QDialogButtonBox*>(); box && box->button(QDialogButtonBox::Ok))
            box->button(QDialogButtonBox::Ok)->click();
        else
            alive->accept();
    });
    timer->start();
}
inline void whenDialogShows(std::function<void(QDialog*)> fill) {
    whenDialogsShow({std::move(fill)});
}

template <class T>
T* child(QObject* root, const char* name) {
    return root->findChild<T*>(QString::fromLatin1(name));
}

// Selects the row of `view` whose `column` shows `text`, as a click on it would; false when there is none.
inline bool selectRow(QTableView* view, int column, const QString& text) {
    for (int r = 0; r < view->model()->rowCount(); ++r)
        if (view->model()->index(r, column).data().toString() == text) {
            view->selectRow(r);
            return view->selectionModel()->isRowSelected(r, {});
        }
    return false;
}

// The text of every cell of `view`, one row a line (for failure messages and "is it shown" checks).
inline QString tableText(QTableView* view) {
    QStringList lines;
    for (int r = 0; r < view->model()->rowCount(); ++r) {
        QStringList cells;
        for (int c = 0; c < view->model()->columnCount(); ++c) cells << view->model()->index(r, c).data().toString();
        lines << cells.join(QLatin1String(" | "));
    }
    return lines.join(QLatin1Char('\n'));
}

// One engine call, waited for: how the tests look at what the engine really holds, independently of
// the widgets. The reply, or nullopt with the engine's error in *error.
template <class Stub, class Req, class Reply>
std::optional<Reply> ask(app::EngineClient& client, const char* method,
                         grpc::Status (Stub::*fn)(grpc::ClientContext*, const Req&, Reply*), const Req& req,
                         QString* error = nullptr) {
    QObject context;
    std::optional<Reply> out;
    bool done = false;
    client.call(
        method, fn, req, &context,
        [&](const Reply& r) {
            out = r;
            done = true;
        },
        [&](const app::EngineError& e) {
            if (error) *error = e.text();
            done = true;
        });
    waitFor([&] { return done; }, 20000);
    return out;
}

// One short generation (a token at most) through `client`: true when the engine served it, else false with
// its refusal in *error (a rate limit, a revoked credential...).
inline bool generateOnce(app::EngineClient& client, QString* error = nullptr) {
    v1::GenerateRequest req;
    req.set_prompt("Hello");
    req.mutable_sampling()->set_max_tokens(1);
    QObject context;
    bool done = false, ok = false;
    client.stream(
        "Generation.Generate", &v1::Generation::Stub::Generate, req, &context, [](const v1::GenerateEvent&) {},
        [&](const app::EngineError* e) {
            ok = !e;
            if (e && error) *error = e->text();
            done = true;
        });
    waitFor([&] { return done; }, 60000);
    return ok;
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

    // Presses "Start engine" on the Connect page with the local profile (or the one given).
    void deploy(std::optional<app::ConnectionProfile> profile = std::nullopt) {
        window->connectPage()->setProfile(profile ? *profile : localProfile());
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

    // A second client of the same engine with its own credential (a session token or an API key), as
    // another program would connect.
    std::unique_ptr<app::EngineClient> otherClient(const QString& credential = {}) const {
        auto other = std::make_unique<app::EngineClient>();
        other->setTarget(client->target());
        other->setSessionToken(credential);
        return other;
    }

    // Signs `user` in from another client: the session token, or empty with the engine's refusal in *why.
    QString loginElsewhere(const QString& user, const QString& password, QString* why = nullptr) const {
        auto other = otherClient();
        v1::LoginRequest req;
        req.set_username(user.toStdString());
        req.set_password(password.toStdString());
        const auto reply = ask(*other, "Auth.Login", &v1::Auth::Stub::Login, req, why);
        return reply ? QString::fromStdString(reply->session_token()) : QString();
    }

    // Deploys and creates the first admin through the wizard.
    bool deployAndBootstrap(QString* why, std::optional<app::ConnectionProfile> profile = std::nullopt) {
        if (!QFileInfo(engine).isExecutable() || !QFileInfo::exists(model)) {
            *why = QStringLiteral("no engine or model: '%1', '%2'").arg(engine, model);
            return false;
        }
        deploy(std::move(profile));
        return bootstrapThroughWizard(QStringLiteral("admin"), why);
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
        // Texts painted on charts: axis labels, series names in the legend, threshold and "no data" notes.
        if (auto* plot = qobject_cast<QCustomPlot*>(w)) {
            for (QCPAxis* a : plot->axisRect()->axes()) check(w, a->label());
            for (int i = 0; i < plot->graphCount(); ++i) check(w, plot->graph(i)->name());
            for (int i = 0; i < plot->itemCount(); ++i)
                if (auto* t = qobject_cast<QCPItemText*>(plot->item(i)); t && t->visible()) check(w, t->text());
        }
    }
    return problems;
}

}  // namespace enclave::test
