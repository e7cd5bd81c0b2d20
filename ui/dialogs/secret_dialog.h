// SecretDialog: shows a secret exactly once (a new API key) with a copy button and a warning that the
// engine keeps only its hash.
#pragma once

#include <QDialog>

namespace enclave::ui {

class SecretDialog : public QDialog {
    Q_OBJECT
public:
    SecretDialog(const QString& name, const QString& secret, QWidget* parent = nullptr);
};

}  // namespace enclave::ui
