#include "app/session.h"

namespace enclave::app {

Session::Session(EngineClient& client, QObject* parent) : QObject(parent), m_client(client) {}

Session::Role Session::fromProto(v1::Role role) {
    switch (role) {
    case v1::ROLE_ADMIN: return Role::Admin;
    case v1::ROLE_ANALYST: return Role::Analyst;
    case v1::ROLE_AUDITOR: return Role::Auditor;
    default: return Role::None;
    }
}

bool Session::canSee(Role role, Page page) {
    switch (role) {
    case Role::Admin: return true;
    case Role::Analyst: return page == Page::Connect || page == Page::Chat || page == Page::Models || page == Page::Settings;
    case Role::Auditor: return page == Page::Connect || page == Page::Audit || page == Page::Dashboard || page == Page::Settings;
    case Role::None: return page == Page::Connect || page == Page::Settings;
    }
    return false;
}

void Session::probe() {
    m_client.call(
        "Auth.BootstrapState", &v1::Auth::Stub::BootstrapState, v1::BootstrapStateRequest{}, this,
        [this](const v1::BootstrapStateReply& r) {
            if (r.needs_first_admin())
                emit needsBootstrap(QString::fromStdString(r.secret_file()));
            else
                emit needsLogin();
        },
        [this](const EngineError& e) { emit failed(e); });
}

void Session::accept(const v1::LoginReply& reply) {
    m_client.setSessionToken(QString::fromStdString(reply.session_token()));
    m_role = fromProto(reply.user().role());
    m_user = QString::fromStdString(reply.user().name());
    emit signedIn(m_role, m_user);
}

void Session::login(const QString& user, const QString& password) {
    v1::LoginRequest req;
    req.set_username(user.toStdString());
    req.set_password(password.toStdString());
    m_client.call("Auth.Login", &v1::Auth::Stub::Login, req, this, [this](const v1::LoginReply& r) { accept(r); },
                  [this](const EngineError& e) { emit failed(e); });
}

void Session::bootstrap(const QString& secret, const QString& user, const QString& password) {
    v1::BootstrapRequest req;
    req.set_secret(secret.trimmed().toStdString());
    req.set_username(user.toStdString());
    req.set_password(password.toStdString());
    m_client.call("Auth.Bootstrap", &v1::Auth::Stub::Bootstrap, req, this, [this](const v1::LoginReply& r) { accept(r); },
                  [this](const EngineError& e) { emit failed(e); });
}

void Session::logout() {
    if (!m_client.sessionToken().isEmpty())
        m_client.call("Auth.Logout", &v1::Auth::Stub::Logout, v1::LogoutRequest{}, this,
                      EngineClient::OnReply<v1::LogoutReply>{}, [](const EngineError&) {});  // best effort
    m_client.setSessionToken({});
    m_role = Role::None;
    emit signedOut();
}

void Session::expire() {
    m_client.setSessionToken({});
    // The role stays: pages keep their state and reappear after the next login of the same user.
}

}  // namespace enclave::app
