#include "ui/dialogs/secret_dialog.h"

#include <QApplication>
#include <QClipboard>
#include <QDialogButtonBox>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace enclave::ui {

SecretDialog::SecretDialog(const QString& name, const QString& secret, QWidget* parent) : QDialog(parent) {
    setWindowTitle(tr("New API key"));
    auto* layout = new QVBoxLayout(this);
    auto* text = new QLabel(tr("The key \"%1\" is shown only now: the engine keeps only its hash. Copy it and store it safely.").arg(name), this);
    text->setWordWrap(true);
    layout->addWidget(text);
    auto* field = new QLineEdit(secret, this);
    field->setObjectName(QStringLiteral("secret"));
    field->setReadOnly(true);
    field->setProperty("enclaveData", true);  // the key itself
    field->setMinimumWidth(420);
    layout->addWidget(field);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, this);
    auto* copy = buttons->addButton(tr("Copy"), QDialogButtonBox::ActionRole);
    connect(copy, &QPushButton::clicked, this, [secret] { QApplication::clipboard()->setText(secret); });
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(buttons);
}

}  // namespace enclave::ui
