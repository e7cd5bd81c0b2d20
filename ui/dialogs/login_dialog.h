// LoginDialog: asks for a user name and password and signs in through Session::login; stays open with
// the engine's readable error on failure. Used at connect and whenever a session expires (the pages keep
// their state behind it).
#pragma once

#include <QDialog>
#include <functional>
#include <memory>
#include <optional>

#include "app/session.h"

namespace Ui {
class LoginDialog;
}

namespace enclave::ui {

class LoginDialog : public QDialog {
    Q_OBJECT
public:
    LoginDialog(app::Session& session, QWidget* parent = nullptr);
    ~LoginDialog() override;
    void setUser(const QString& user);
    // Why the dialog shows, e.g. "Your session expired." (translated when called); empty: the plain intro.
    void setReason(std::function<QString()> reason);

protected:
    void changeEvent(QEvent* event) override;

private:
    std::unique_ptr<Ui::LoginDialog> m_ui;
    app::Session& m_session;
    std::function<QString()> m_reasonText;
    std::optional<app::EngineError> m_error;  // shown again in the new language after a switch
};

}  // namespace enclave::ui
