// Session: who is signed in to the engine and which pages that role sees.
//
// Flow: probe() asks Auth.BootstrapState. An engine that needs its first admin -> needsBootstrap(secret
// file); otherwise -> needsLogin(). login()/bootstrap() keep the token in the EngineClient and emit
// signedIn(). Any failure (also an engine without the Auth service) is failed(): the console never shows
// pages without a session. The engine, not the console, decides what each call may do.
//
// Threads: GUI thread.
#pragma once

#include <QObject>

#include "app/engine_client.h"

namespace enclave::app {

class Session : public QObject {
    Q_OBJECT
public:
    enum class Role { None, Admin, Analyst, Auditor };
    Q_ENUM(Role)

    explicit Session(EngineClient& client, QObject* parent = nullptr);

    void probe();
    void login(const QString& user, const QString& password);
    void bootstrap(const QString& secret, const QString& user, const QString& password);
    void logout();
    // After sessionExpired: forget the token but keep the user name, so the login dialog can offer it.
    void expire();

    Role role() const { return m_role; }
    QString userName() const { return m_user; }
    bool isSignedIn() const { return m_role != Role::None; }
    static Role fromProto(enclave::v1::Role role);

    // Which pages a role may see (the engine still checks every call).
    enum class Page { Connect, Dashboard, Models, Chat, Users, Audit, Alerts, Settings };
    static bool canSee(Role role, Page page);

signals:
    void needsBootstrap(const QString& secretFile);
    void needsLogin();
    void signedIn(enclave::app::Session::Role role, const QString& user);
    void signedOut();
    void failed(const enclave::app::EngineError& error);  // login, bootstrap or probe

private:
    void accept(const enclave::v1::LoginReply& reply);

    EngineClient& m_client;
    Role m_role = Role::None;
    QString m_user;
};

}  // namespace enclave::app
