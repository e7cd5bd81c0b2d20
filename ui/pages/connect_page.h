// Connect / Deploy: saved connection profiles (ProfileStore); for a local profile, start, stop and
// restart the engine (EngineProcess) and watch its log; for a remote one, connect over TLS. When the
// engine is ready (or the remote one is chosen) the page points the EngineClient at it and emits
// targetChosen(); the window then probes the session (first-run bootstrap or login).
#pragma once

#include "app/connection_profile.h"
#include "app/engine_process.h"
#include "ui/page.h"

class QComboBox;
class QFormLayout;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QStackedWidget;

namespace enclave::ui {

class ConnectPage : public Page {
    Q_OBJECT
public:
    ConnectPage(EngineClient& client, app::EngineProcess& process, app::ProfileStore& profiles, QWidget* parent = nullptr);
    QString title() const override { return tr("Connect"); }
    void setProfile(const app::ConnectionProfile& profile);
    app::ConnectionProfile profile() const;
    void startLocal();
    void connectNow();  // points the client at the profile's engine

signals:
    void targetChosen();

protected:
    void retranslate() override;

private:
    void loadProfile(const QString& name);
    void saveProfile();
    void deleteProfile();
    void updateState();
    QString restartNote(int attempt, int delayMs) const;

    app::EngineProcess& m_process;
    app::ProfileStore& m_profiles;
    QGroupBox* m_profileBox;
    QLabel* m_profileLabel;
    QComboBox* m_profileCombo;
    QPushButton* m_save;
    QPushButton* m_delete;
    QLabel* m_kindLabel;
    QComboBox* m_kind;
    QStackedWidget* m_stack;
    QFormLayout* m_localForm;
    QFormLayout* m_remoteForm;
    QLineEdit* m_name;
    QLineEdit* m_binary;
    QLineEdit* m_modelDir;
    QLineEdit* m_stateDir;
    QLineEdit* m_models;
    QComboBox* m_backend;
    QLineEdit* m_gpus;
    QLineEdit* m_socket;
    QLineEdit* m_http;
    QLineEdit* m_tls;
    QLineEdit* m_tlsCert;
    QLineEdit* m_tlsKey;
    QLineEdit* m_serverName;
    QLineEdit* m_host;
    QSpinBox* m_port;
    QLineEdit* m_ca;
    QLineEdit* m_pinned;
    QPushButton* m_start;
    QPushButton* m_stop;
    QPushButton* m_restart;
    QPushButton* m_connect;
    QLabel* m_state;
    QGroupBox* m_logBox;
    QPlainTextEdit* m_log;
    int m_restartAttempt = 0;
    int m_restartDelayMs = 0;
};

}  // namespace enclave::ui
