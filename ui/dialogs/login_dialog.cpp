#include "ui/dialogs/login_dialog.h"

#include <QPushButton>

#include "ui_login_dialog.h"

namespace enclave::ui {

LoginDialog::LoginDialog(app::Session& session, QWidget* parent)
    : QDialog(parent), m_ui(std::make_unique<Ui::LoginDialog>()), m_session(session) {
    m_ui->setupUi(this);
    m_ui->error->setProperty("enclaveEngineText", true);  // ends with the engine's own message
    connect(m_ui->buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_ui->buttons, &QDialogButtonBox::accepted, this, [this] {
        m_ui->error->clear();
        m_error.reset();
        m_ui->buttons->button(QDialogButtonBox::Ok)->setEnabled(false);
        m_session.login(m_ui->user->text().trimmed(), m_ui->password->text());
    });
    connect(&m_session, &app::Session::signedIn, this, [this] {
        m_ui->password->clear();
        accept();
    });
    connect(&m_session, &app::Session::failed, this, [this](const app::EngineError& e) {
        m_ui->buttons->button(QDialogButtonBox::Ok)->setEnabled(true);
        m_error = e;
        m_ui->error->setText(e.text());
    });
}

LoginDialog::~LoginDialog() = default;

void LoginDialog::setUser(const QString& user) {
    m_ui->user->setText(user);
    if (!user.isEmpty()) m_ui->password->setFocus();
}

void LoginDialog::setReason(std::function<QString()> reason) {
    m_reasonText = std::move(reason);
    if (m_reasonText)
        m_ui->intro->setText(m_reasonText());
    else
        m_ui->retranslateUi(this);
    m_ui->error->clear();
    m_ui->buttons->button(QDialogButtonBox::Ok)->setEnabled(true);
}

void LoginDialog::changeEvent(QEvent* event) {
    if (event->type() == QEvent::LanguageChange) {
        m_ui->retranslateUi(this);
        if (m_reasonText) m_ui->intro->setText(m_reasonText());
        if (m_error && !m_ui->error->text().isEmpty()) m_ui->error->setText(m_error->text());
    }
    QDialog::changeEvent(event);
}

}  // namespace enclave::ui
