#include "ui/dialogs/bootstrap_dialog.h"

#include <QCheckBox>
#include <QDialogButtonBox>
#include <QEvent>
#include <QFile>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace enclave::ui {

BootstrapDialog::BootstrapDialog(app::Session& session, const QString& secretFile, QWidget* parent)
    : QDialog(parent), m_session(session), m_secretFile(secretFile) {
    auto* layout = new QVBoxLayout(this);
    m_intro = new QLabel(this);
    m_intro->setWordWrap(true);
    layout->addWidget(m_intro);
    auto* form = new QFormLayout;
    m_secretLabel = new QLabel(this);
    m_secret = new QLineEdit(this);
    m_secret->setEchoMode(QLineEdit::Password);
    m_userLabel = new QLabel(this);
    m_user = new QLineEdit(QStringLiteral("admin"), this);
    m_passLabel = new QLabel(this);
    m_pass = new QLineEdit(this);
    m_pass->setEchoMode(QLineEdit::Password);
    m_pass2Label = new QLabel(this);
    m_pass2 = new QLineEdit(this);
    m_pass2->setEchoMode(QLineEdit::Password);
    form->addRow(m_secretLabel, m_secret);
    form->addRow(m_userLabel, m_user);
    form->addRow(m_passLabel, m_pass);
    form->addRow(m_pass2Label, m_pass2);
    layout->addLayout(form);
    m_confirm = new QCheckBox(this);
    m_confirm->setObjectName(QStringLiteral("confirmSecret"));
    layout->addWidget(m_confirm);
    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("error"));
    m_error->setProperty("enclaveEngineText", true);  // ends with the engine's own message
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: #c0392b;"));
    layout->addWidget(m_error);
    m_buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    layout->addWidget(m_buttons);

    m_secret->setObjectName(QStringLiteral("secret"));
    m_user->setObjectName(QStringLiteral("adminName"));
    m_pass->setObjectName(QStringLiteral("password"));
    m_pass2->setObjectName(QStringLiteral("password2"));
    QFile f(secretFile);
    if (!secretFile.isEmpty() && f.open(QIODevice::ReadOnly)) {
        m_secret->setText(QString::fromUtf8(f.readAll()).trimmed());
        m_secretRead = true;
    }
    m_confirm->setVisible(m_secretRead);
    QPushButton* ok = m_buttons->button(QDialogButtonBox::Ok);
    ok->setEnabled(!m_secretRead);
    connect(m_confirm, &QCheckBox::toggled, ok, &QPushButton::setEnabled);
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_buttons, &QDialogButtonBox::accepted, this, [this] {
        m_lastError.reset();
        m_differ = m_pass->text() != m_pass2->text();
        if (m_differ) {
            retranslate();
            return;
        }
        m_error->clear();
        m_session.bootstrap(m_secret->text(), m_user->text().trimmed(), m_pass->text());
    });
    connect(&m_session, &app::Session::signedIn, this, &QDialog::accept);
    connect(&m_session, &app::Session::failed, this, [this](const app::EngineError& e) {
        m_lastError = e;
        retranslate();
    });
    retranslate();
}

void BootstrapDialog::retranslate() {
    setWindowTitle(tr("Create the first administrator"));
    m_intro->setText(m_secretRead ? tr("This engine has no users yet. Its one-time bootstrap secret was read from %1. Choose the "
                                       "first administrator's name and password.")
                                        .arg(m_secretFile)
                                  : tr("This engine has no users yet. Paste the one-time bootstrap secret from %1 (readable "
                                       "only by the engine's OS user), then choose the first administrator's name and password.")
                                        .arg(m_secretFile));
    m_secretLabel->setText(tr("Bootstrap secret:"));
    m_userLabel->setText(tr("Administrator name:"));
    m_passLabel->setText(tr("Password:"));
    m_pass2Label->setText(tr("Repeat password:"));
    m_confirm->setText(tr("I administer this engine: use the secret read from its state directory"));
    m_pass->setPlaceholderText(tr("at least 12 characters, not containing the name"));
    if (m_differ)
        m_error->setText(tr("The two passwords differ."));
    else if (m_lastError)
        m_error->setText(m_lastError->text());
}

void BootstrapDialog::changeEvent(QEvent* event) {
    if (event->type() == QEvent::LanguageChange) retranslate();
    QDialog::changeEvent(event);
}

}  // namespace enclave::ui
