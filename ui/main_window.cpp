#include "ui/main_window.h"

#include <QEvent>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QStackedWidget>
#include <QStatusBar>
#include <QTimer>
#include <QVBoxLayout>

#include "ui/dialogs/bootstrap_dialog.h"
#include "ui/dialogs/login_dialog.h"
#include "ui/pages/alerts_page.h"
#include "ui/pages/audit_page.h"
#include "ui/pages/chat_page.h"
#include "ui/pages/connect_page.h"
#include "ui/pages/dashboard_page.h"
#include "ui/pages/models_page.h"
#include "ui/pages/settings_page.h"
#include "ui/pages/users_page.h"

namespace enclave::ui {

using app::Session;

MainWindow::MainWindow(app::EngineClient& client, app::EngineProcess& process, Session& session, app::ProfileStore& profiles,
                       Language& language, QSettings& settings, QWidget* parent)
    : QMainWindow(parent), m_client(client), m_process(process), m_session(session) {
    auto* central = new QWidget(this);
    auto* outer = new QVBoxLayout(central);
    m_messageBar = new QWidget(central);
    m_messageBar->setObjectName(QStringLiteral("messageBar"));
    m_messageBar->setAttribute(Qt::WA_StyledBackground);
    auto* bar = new QVBoxLayout(m_messageBar);
    bar->setContentsMargins(8, 5, 8, 5);
    bar->setSpacing(2);
    m_messageText = new QLabel(m_messageBar);
    m_messageDetail = new QLabel(m_messageBar);
    m_messageDetail->setProperty("enclaveEngineText", true);  // the engine's own words, names and values
    for (QLabel* l : {m_messageText, m_messageDetail}) {
        l->setWordWrap(true);
        l->setTextInteractionFlags(Qt::TextSelectableByMouse);
        bar->addWidget(l);
    }
    m_messageBar->setVisible(false);
    outer->addWidget(m_messageBar);
    auto* row = new QHBoxLayout;
    m_nav = new QListWidget(central);
    m_nav->setFixedWidth(170);
    m_stack = new QStackedWidget(central);
    row->addWidget(m_nav);
    row->addWidget(m_stack, 1);
    outer->addLayout(row, 1);
    setCentralWidget(central);
    m_statusConnection = new QLabel(this);
    m_statusUser = new QLabel(this);
    m_statusUser->setProperty("enclaveData", true);  // the user's own name
    statusBar()->addWidget(m_statusConnection, 1);
    statusBar()->addPermanentWidget(m_statusUser);
    m_signOut = new QPushButton(this);
    m_signOut->setObjectName(QStringLiteral("signOut"));
    m_signOut->setFlat(true);
    statusBar()->addPermanentWidget(m_signOut);
    connect(m_signOut, &QPushButton::clicked, this, [this] {
        m_session.logout();
        if (m_client.hasTarget()) m_session.probe();  // the login dialog, for the next user
    });
    m_messageTimer = new QTimer(this);
    m_messageTimer->setSingleShot(true);
    connect(m_messageTimer, &QTimer::timeout, m_messageBar, &QLabel::hide);

    auto* connectPage = new ConnectPage(client, process, profiles, m_stack);
    addPage(Session::Page::Connect, connectPage);
    addPage(Session::Page::Dashboard, new DashboardPage(client, m_stack));
    addPage(Session::Page::Models, new ModelsPage(client, m_stack));
    addPage(Session::Page::Chat, new ChatPage(client, m_stack));
    addPage(Session::Page::Users, new UsersPage(client, m_stack));
    addPage(Session::Page::Audit, new AuditPage(client, m_stack));
    addPage(Session::Page::Alerts, new AlertsPage(client, m_stack));
    addPage(Session::Page::Settings, new SettingsPage(client, language, settings, m_stack));

    connect(m_nav, &QListWidget::currentRowChanged, this, [this](int index) {
        if (index < 0) return;
        Page* p = m_pages[index].second;
        m_stack->setCurrentWidget(p);
        if (m_session.isSignedIn() && m_client.hasTarget()) p->refresh();
    });
    connect(connectPage, &ConnectPage::targetChosen, this, [this] {
        if (m_session.isSignedIn() && !m_client.sessionToken().isEmpty()) return;  // same session, engine restarted
        m_session.probe();
    });
    connect(&session, &Session::needsBootstrap, this, [this](const QString& file) {
        auto* dlg = new BootstrapDialog(m_session, file, this);
        dlg->setAttribute(Qt::WA_DeleteOnClose);
        dlg->open();
    });
    connect(&session, &Session::needsLogin, this, [this] {
        if (!m_login) m_login = new LoginDialog(m_session, this);
        m_login->setReason({});
        m_login->open();
    });
    connect(&session, &Session::signedIn, this, &MainWindow::onSignedIn);
    connect(&session, &Session::signedOut, this, [this] {
        for (const auto& [id, p] : m_pages) {
            p->setConnected(false);
            p->forgetUser();
        }
        m_previousUser.clear();
        applyRole(Session::Role::None);
    });
    connect(&session, &Session::failed, this, [this](const app::EngineError& e) {
        if (!m_login || !m_login->isVisible()) showNotice(Notice::of(e));
    });
    connect(&client, &app::EngineClient::sessionExpired, this, &MainWindow::onSessionExpired);
    connect(&client, &app::EngineClient::callFailed, this, [this](const app::EngineError& e) {
        if (!e.isCancelled()) showNotice(Notice::of(e));
    });
    connect(&client, &app::EngineClient::connectionChanged, this, &MainWindow::onConnectionChanged);
    connect(&process, &app::EngineProcess::stateChanged, this, &MainWindow::updateStatus);
    applyRole(Session::Role::None);
    retranslate();
    resize(1280, 860);
}

MainWindow::~MainWindow() = default;

void MainWindow::addPage(Session::Page id, Page* page) {
    m_pages.append({id, page});
    m_stack->addWidget(page);
    m_nav->addItem(page->title());
    connect(page, &Page::notice, this, &MainWindow::showNotice);
}

Page* MainWindow::page(Session::Page id) const {
    for (const auto& [pid, p] : m_pages)
        if (pid == id) return p;
    return nullptr;
}

ConnectPage* MainWindow::connectPage() const { return static_cast<ConnectPage*>(page(Session::Page::Connect)); }

QList<Session::Page> MainWindow::visiblePages() const {
    QList<Session::Page> out;
    for (int i = 0; i < m_pages.size(); ++i)
        if (!m_nav->item(i)->isHidden()) out << m_pages[i].first;
    return out;
}

bool MainWindow::showPage(Session::Page id) {
    for (int i = 0; i < m_pages.size(); ++i) {
        if (m_pages[i].first != id) continue;
        if (m_nav->item(i)->isHidden()) return false;
        m_nav->setCurrentRow(i);
        return true;
    }
    return false;
}

void MainWindow::applyRole(Session::Role role) {
    for (int i = 0; i < m_pages.size(); ++i) m_nav->item(i)->setHidden(!Session::canSee(role, m_pages[i].first));
    if (auto* models = static_cast<ModelsPage*>(page(Session::Page::Models)))
        models->setAdmin(role == Session::Role::Admin);
    const int current = m_nav->currentRow();
    if (current < 0 || m_nav->item(current)->isHidden()) m_nav->setCurrentRow(0);
    updateStatus();
}

void MainWindow::onSignedIn() {
    // Another user after an expired session: the pages kept the previous user's state; not for this one.
    if (!m_previousUser.isEmpty() && m_previousUser != m_session.userName())
        for (const auto& [id, p] : m_pages) p->forgetUser();
    m_previousUser = m_session.userName();
    applyRole(m_session.role());
    if (m_notice.error && m_client.isConnected()) m_messageBar->hide();  // e.g. "session expired": resolved now
    // Back to the page that was open before the login, or the first useful one.
    const int current = m_nav->currentRow();
    if (current <= 0) showPage(Session::canSee(m_session.role(), Session::Page::Dashboard) ? Session::Page::Dashboard : Session::Page::Chat);
    else m_pages[current].second->refresh();
}

void MainWindow::onSessionExpired() {
    if (m_login && m_login->isVisible()) return;
    const QString user = m_session.userName();
    m_session.expire();
    if (!m_login) m_login = new LoginDialog(m_session, this);
    m_login->setUser(user);
    m_login->setReason([] { return tr("Your session expired or was revoked. Sign in again to continue where you were."); });
    m_login->open();
}

void MainWindow::onConnectionChanged(bool connected) {
    updateStatus();
    if (connected == m_wasConnected) return;
    m_wasConnected = connected;
    for (const auto& [id, p] : m_pages)
        if (m_session.isSignedIn()) p->setConnected(connected);
    if (!connected) showNotice({[] { return tr("Lost the connection to the engine; reconnecting…"); }, {}, true});
    else if (m_session.isSignedIn()) showNotice({[] { return tr("Connected to the engine again."); }, {}, false});
}

void MainWindow::showNotice(const Notice& notice) {
    m_notice = notice;
    m_messageBar->setStyleSheet(notice.error ? QStringLiteral("#messageBar{background:#c0392b;border-radius:3px;} QLabel{color:white;}")
                                             : QStringLiteral("#messageBar{background:#2d6a4f;border-radius:3px;} QLabel{color:white;}"));
    renderNotice();
    m_messageBar->setVisible(true);
    m_messageTimer->start(notice.error ? 15000 : 6000);
}

void MainWindow::renderNotice() {
    m_messageText->setText(m_notice.text ? m_notice.text() : QString());
    m_messageDetail->setText(m_notice.detail);
    m_messageDetail->setVisible(!m_notice.detail.isEmpty());
}

QString MainWindow::lastMessage() const {
    const QString text = m_notice.text ? m_notice.text() : QString();
    return m_notice.detail.isEmpty() ? text : QStringLiteral("%1 (%2)").arg(text, m_notice.detail);
}

void MainWindow::updateStatus() {
    m_statusConnection->setText(!m_client.hasTarget() ? tr("Not connected")
                                : m_client.isConnected() ? tr("Connected: %1").arg(m_client.target().address)
                                                         : tr("Reconnecting: %1").arg(m_client.target().address));
    QString role;
    switch (m_session.role()) {
    case Session::Role::Admin: role = tr("administrator"); break;
    case Session::Role::Analyst: role = tr("analyst"); break;
    case Session::Role::Auditor: role = tr("auditor"); break;
    case Session::Role::None: role = tr("not signed in"); break;
    }
    m_statusUser->setText(m_session.userName().isEmpty() ? role : tr("%1 (%2)").arg(m_session.userName(), role));
    m_signOut->setText(tr("Sign out"));
    m_signOut->setVisible(m_session.isSignedIn());
}

void MainWindow::retranslate() {
    setWindowTitle(tr("Enclave console"));
    for (int i = 0; i < m_pages.size(); ++i) m_nav->item(i)->setText(m_pages[i].second->title());
    updateStatus();
    renderNotice();
}

void MainWindow::changeEvent(QEvent* event) {
    if (event->type() == QEvent::LanguageChange) retranslate();
    QMainWindow::changeEvent(event);
}

}  // namespace enclave::ui
