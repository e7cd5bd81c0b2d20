// BootstrapDialog: the first-run wizard. The engine wrote a one-time secret to a 0600 file in its state
// directory (Auth.BootstrapState says where); the console reads it when it can (a local engine runs as
// the same OS user) and the admin confirms using it (a checkbox), else the admin pastes it; then the first
// admin's name and password are chosen and Session::bootstrap creates the account and signs in.
#pragma once

#include <QDialog>
#include <optional>

#include "app/session.h"

class QCheckBox;
class QLabel;
class QLineEdit;
class QDialogButtonBox;

namespace enclave::ui {

class BootstrapDialog : public QDialog {
    Q_OBJECT
public:
    BootstrapDialog(app::Session& session, const QString& secretFile, QWidget* parent = nullptr);

protected:
    void changeEvent(QEvent* event) override;

private:
    void retranslate();
    app::Session& m_session;
    QString m_secretFile;
    bool m_secretRead = false;
    QLabel* m_intro;
    QLabel* m_secretLabel;
    QLineEdit* m_secret;
    QLabel* m_userLabel;
    QLineEdit* m_user;
    QLabel* m_passLabel;
    QLineEdit* m_pass;
    QLabel* m_pass2Label;
    QLineEdit* m_pass2;
    QCheckBox* m_confirm;  // the admin confirms using the secret the console read from the engine's file
    QLabel* m_error;
    std::optional<app::EngineError> m_lastError;  // shown again in the new language after a switch
    bool m_differ = false;
    QDialogButtonBox* m_buttons;
};

}  // namespace enclave::ui
