// MainWindow: navigation between the pages the signed-in role may see, a message bar where every
// engine error and notice appears, and the session flow (first-run bootstrap, login, and login again
// when a session expires, with the pages and their state kept behind the dialog).
//
// Everything it uses is built in main() (or a test) and passed in; it owns only its widgets.
#pragma once

#include <QMainWindow>
#include <QSettings>

#include "app/engine_process.h"
#include "app/session.h"
#include "ui/page.h"

class QLabel;
class QListWidget;
class QPushButton;
class QStackedWidget;
class QTimer;

namespace enclave::ui {

class Page;
class Language;
class ConnectPage;
class LoginDialog;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    MainWindow(app::EngineClient& client, app::EngineProcess& process, app::Session& session, app::ProfileStore& profiles,
               Language& language, QSettings& settings, QWidget* parent = nullptr);
    ~MainWindow() override;

    // Shows the page (if the role allows it); returns false otherwise.
    bool showPage(app::Session::Page page);
    Page* page(app::Session::Page page) const;
    QList<app::Session::Page> visiblePages() const;
    ConnectPage* connectPage() const;
    // The message bar's text as shown now (the console's words, then the engine's in parentheses).
    QString lastMessage() const;
    bool lastMessageIsError() const { return m_notice.error; }
    // Applies the role's pages (also used by tests to look at each role's window).
    void applyRole(app::Session::Role role);

public slots:
    void showNotice(const enclave::ui::Notice& notice);

protected:
    void changeEvent(QEvent* event) override;

private:
    void addPage(app::Session::Page id, Page* page);
    void retranslate();
    void onSignedIn();
    void onSessionExpired();
    void onConnectionChanged(bool connected);
    void updateStatus();
    void renderNotice();

    app::EngineClient& m_client;
    app::EngineProcess& m_process;
    app::Session& m_session;
    QListWidget* m_nav;
    QStackedWidget* m_stack;
    QWidget* m_messageBar;
    QLabel* m_messageText;
    QLabel* m_messageDetail;
    QLabel* m_statusConnection;
    QLabel* m_statusUser;
    QPushButton* m_signOut;
    QTimer* m_messageTimer;
    QList<std::pair<app::Session::Page, Page*>> m_pages;
    LoginDialog* m_login = nullptr;
    Notice m_notice;
    QString m_previousUser;
    bool m_wasConnected = false;
};

}  // namespace enclave::ui
