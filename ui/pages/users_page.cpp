#include "ui/pages/users_page.h"

#include <QComboBox>
#include <QDateTime>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QVBoxLayout>
#include <optional>

#include "ui/dialogs/secret_dialog.h"

#include "ui/widgets/record_table.h"

namespace enclave::ui {
namespace {
QStringList roleItems() { return {app::roleName(v1::ROLE_ANALYST), app::roleName(v1::ROLE_AUDITOR), app::roleName(v1::ROLE_ADMIN)}; }
v1::Role roleAt(int i) { return i == 2 ? v1::ROLE_ADMIN : i == 1 ? v1::ROLE_AUDITOR : v1::ROLE_ANALYST; }
}  // namespace

UsersPage::UsersPage(EngineClient& client, QWidget* parent) : Page(client, parent), m_users(this), m_keys(this) {
    auto* layout = new QVBoxLayout(this);
    m_usersBox = new QGroupBox(this);
    auto* ul = new QVBoxLayout(m_usersBox);
    m_userView = makeRecordTable(&m_users, m_usersBox);
    ul->addWidget(m_userView);
    auto* ub = new QHBoxLayout;
    m_create = new QPushButton(m_usersBox);
    m_disable = new QPushButton(m_usersBox);
    m_delete = new QPushButton(m_usersBox);
    m_password = new QPushButton(m_usersBox);
    m_role = new QPushButton(m_usersBox);
    m_limits = new QPushButton(m_usersBox);
    for (auto* b : {m_create, m_disable, m_password, m_role, m_limits, m_delete}) ub->addWidget(b);
    ub->addStretch(1);
    ul->addLayout(ub);
    layout->addWidget(m_usersBox, 3);
    m_keysBox = new QGroupBox(this);
    auto* kl = new QVBoxLayout(m_keysBox);
    m_keyView = makeRecordTable(&m_keys, m_keysBox);
    kl->addWidget(m_keyView);
    auto* kb = new QHBoxLayout;
    m_newKey = new QPushButton(m_keysBox);
    m_revokeKey = new QPushButton(m_keysBox);
    kb->addWidget(m_newKey);
    kb->addWidget(m_revokeKey);
    kb->addStretch(1);
    kl->addLayout(kb);
    layout->addWidget(m_keysBox, 2);

    m_userView->setObjectName(QStringLiteral("users"));
    m_keyView->setObjectName(QStringLiteral("keys"));
    m_create->setObjectName(QStringLiteral("newUser"));
    m_disable->setObjectName(QStringLiteral("toggleDisabled"));
    m_delete->setObjectName(QStringLiteral("deleteUser"));
    m_password->setObjectName(QStringLiteral("resetPassword"));
    m_role->setObjectName(QStringLiteral("changeRole"));
    m_limits->setObjectName(QStringLiteral("editLimits"));
    m_newKey->setObjectName(QStringLiteral("newKey"));
    m_revokeKey->setObjectName(QStringLiteral("revokeKey"));
    connect(m_create, &QPushButton::clicked, this, &UsersPage::createUser);
    connect(m_disable, &QPushButton::clicked, this, &UsersPage::toggleDisabled);
    connect(m_delete, &QPushButton::clicked, this, &UsersPage::deleteUser);
    connect(m_password, &QPushButton::clicked, this, &UsersPage::resetPassword);
    connect(m_role, &QPushButton::clicked, this, &UsersPage::changeRole);
    connect(m_limits, &QPushButton::clicked, this, &UsersPage::editLimits);
    connect(m_newKey, &QPushButton::clicked, this, &UsersPage::createKey);
    connect(m_revokeKey, &QPushButton::clicked, this, &UsersPage::revokeKey);
    connect(m_userView->selectionModel(), &QItemSelectionModel::selectionChanged, this, &UsersPage::loadKeys);
    retranslate();
}

void UsersPage::retranslate() {
    m_usersBox->setTitle(tr("Users"));
    m_keysBox->setTitle(tr("API keys of the selected user (all keys when none is selected)"));
    m_create->setText(tr("New user…"));
    m_disable->setText(tr("Disable / enable"));
    m_delete->setText(tr("Delete"));
    m_password->setText(tr("Reset password…"));
    m_role->setText(tr("Change role…"));
    m_limits->setText(tr("Limits…"));
    m_newKey->setText(tr("New API key…"));
    m_revokeKey->setText(tr("Revoke key"));
}

void UsersPage::refresh() {
    m_client.call(
        "Users.ListUsers", &v1::Users::Stub::ListUsers, v1::ListUsersRequest{}, this,
        [this](const v1::ListUsersReply& r) {
            // The reload resets the table: select the same user again, so the next action and the
            // key list still apply to the user the admin picked.
            const qint64 selected = selectedUser();
            m_users.setRows(app::toList(r.users()));
            if (const int row = m_users.rowOf(selected); row >= 0)
                m_userView->selectRow(row);  // loads that user's keys
            else
                loadKeys();
        },
        failer());
}

qint64 UsersPage::selectedUser() const {
    const auto rows = m_userView->selectionModel()->selectedRows();
    return rows.isEmpty() ? 0 : m_users.data(rows.first(), Qt::UserRole).toLongLong();
}

const v1::User* UsersPage::selectedRow() {
    const auto rows = m_userView->selectionModel()->selectedRows();
    if (rows.isEmpty()) {
        say([] { return tr("Select a user first."); }, true);
        return nullptr;
    }
    return &m_users.rowAt(rows.first().row());
}

void UsersPage::loadKeys() {
    v1::ListKeysRequest req;
    req.set_user_id(selectedUser());
    m_client.call("Users.ListKeys", &v1::Users::Stub::ListKeys, req, this,
                  [this](const v1::ListKeysReply& r) { m_keys.setRows(app::toList(r.keys())); }, failer());
}

void UsersPage::createUser() {
    QDialog dlg(this);
    dlg.setWindowTitle(tr("New user"));
    auto* form = new QFormLayout(&dlg);
    auto* name = new QLineEdit(&dlg);
    name->setObjectName(QStringLiteral("userName"));
    auto* role = new QComboBox(&dlg);
    role->setObjectName(QStringLiteral("userRole"));
    role->addItems(roleItems());
    auto* pass = new QLineEdit(&dlg);
    pass->setObjectName(QStringLiteral("userPassword"));
    pass->setEchoMode(QLineEdit::Password);
    pass->setPlaceholderText(tr("at least 12 characters, not containing the name"));
    auto* pass2 = new QLineEdit(&dlg);
    pass2->setObjectName(QStringLiteral("userPassword2"));
    pass2->setEchoMode(QLineEdit::Password);
    form->addRow(tr("Name:"), name);
    form->addRow(tr("Role:"), role);
    form->addRow(tr("Password:"), pass);
    form->addRow(tr("Repeat password:"), pass2);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
    connect(buttons, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
    form->addRow(buttons);
    if (dlg.exec() != QDialog::Accepted) return;
    if (pass->text() != pass2->text()) {
        say([=, this] { return tr("The two passwords differ."); }, true);
        return;
    }
    v1::CreateUserRequest req;
    req.set_name(name->text().trimmed().toStdString());
    req.set_role(roleAt(role->currentIndex()));
    req.set_password(pass->text().toStdString());
    m_client.call("Users.CreateUser", &v1::Users::Stub::CreateUser, req, this,
                  [this](const v1::User& u) {
                      say([=, this] { return tr("Created the user %1").arg(QString::fromStdString(u.name())); }, false);
                      refresh();
                  },
                  failer());
}

void UsersPage::update(const v1::UpdateUserRequest& req, std::function<QString()> done) {
    m_client.call("Users.UpdateUser", &v1::Users::Stub::UpdateUser, req, this,
                  [this, done](const v1::User&) {
                      say(done, false);
                      refresh();
                  },
                  failer());
}

void UsersPage::toggleDisabled() {
    const v1::User* selected = selectedRow();
    if (!selected) return;
    const v1::User u = *selected;
    v1::UpdateUserRequest req;
    req.set_id(u.id());
    req.set_disabled(!u.disabled());
    const QString name = QString::fromStdString(u.name());
    const bool wasDisabled = u.disabled();
    update(req, [name, wasDisabled] { return wasDisabled ? tr("Enabled %1").arg(name) : tr("Disabled %1").arg(name); });
}

void UsersPage::deleteUser() {
    const v1::User* selected = selectedRow();
    if (!selected) return;
    const v1::User u = *selected;  // the table may reload while the question is open
    if (QMessageBox::question(this, tr("Delete user"), tr("Delete %1? Their sessions and keys end now.").arg(QString::fromStdString(u.name()))) !=
        QMessageBox::Yes)
        return;
    v1::DeleteUserRequest req;
    req.set_id(u.id());
    const QString name = QString::fromStdString(u.name());
    m_client.call(
        "Users.DeleteUser", &v1::Users::Stub::DeleteUser, req, this,
        [this, name](const v1::DeleteUserReply&) {
            say([name] { return tr("Deleted the user %1").arg(name); }, false);
            refresh();
        },
        failer());
}

void UsersPage::resetPassword() {
    const v1::User* selected = selectedRow();
    if (!selected) return;
    const qint64 id = selected->id();
    bool ok = false;
    const QString pass = QInputDialog::getText(this, tr("Reset password"), tr("New password:"), QLineEdit::Password, QString(), &ok);
    if (!ok || pass.isEmpty()) return;
    v1::UpdateUserRequest req;
    req.set_id(id);
    req.set_new_password(pass.toStdString());
    update(req, [] { return tr("The password was reset; the user's sessions ended."); });
}

void UsersPage::changeRole() {
    const v1::User* selected = selectedRow();
    if (!selected) return;
    const qint64 id = selected->id();
    const int current = selected->role() == v1::ROLE_ADMIN ? 2 : selected->role() == v1::ROLE_AUDITOR ? 1 : 0;
    bool ok = false;
    const QStringList items = roleItems();
    const QString role = QInputDialog::getItem(this, tr("Change role"), tr("Role:"), items, current, false, &ok);
    if (!ok) return;
    v1::UpdateUserRequest req;
    req.set_id(id);
    req.set_role(roleAt(int(items.indexOf(role))));
    update(req, [] { return tr("The role was changed; the user's sessions ended."); });
}

void UsersPage::editLimits() {
    const v1::User* selected = selectedRow();
    if (!selected) return;
    const v1::User u = *selected;
    QDialog dlg(this);
    dlg.setWindowTitle(tr("Limits"));
    auto* form = new QFormLayout(&dlg);
    auto spin = [&](int v) {
        auto* s = new QSpinBox(&dlg);
        s->setRange(0, 1000000);
        s->setSpecialValueText(tr("unlimited"));
        s->setValue(v);
        return s;
    };
    auto* rpm = spin(u.limits().requests_per_minute());
    auto* tpm = spin(u.limits().tokens_per_minute());
    auto* streams = spin(u.limits().concurrent_streams());
    rpm->setObjectName(QStringLiteral("requestsPerMinute"));
    tpm->setObjectName(QStringLiteral("tokensPerMinute"));
    streams->setObjectName(QStringLiteral("concurrentStreams"));
    form->addRow(tr("Requests per minute:"), rpm);
    form->addRow(tr("Tokens per minute:"), tpm);
    form->addRow(tr("Concurrent streams:"), streams);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
    connect(buttons, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
    form->addRow(buttons);
    if (dlg.exec() != QDialog::Accepted) return;
    v1::UpdateUserRequest req;
    req.set_id(u.id());
    req.mutable_limits()->set_requests_per_minute(rpm->value());
    req.mutable_limits()->set_tokens_per_minute(tpm->value());
    req.mutable_limits()->set_concurrent_streams(streams->value());
    update(req, [] { return tr("Limits saved."); });
}

void UsersPage::createKey() {
    // The key belongs to the selected user, or to the admin signed in when none is selected. The engine
    // wants a key's role to be its owner's (an admin's key may have any role: least privilege first).
    const auto rows = m_userView->selectionModel()->selectedRows();
    std::optional<v1::User> owner;  // a copy: the table may reload while the dialog is open
    if (!rows.isEmpty()) owner = m_users.rowAt(rows.first().row());
    const qint64 ownerId = owner ? owner->id() : 0;
    const bool anyRole = !owner || owner->role() == v1::ROLE_ADMIN;
    QDialog dlg(this);
    dlg.setWindowTitle(tr("New API key"));
    auto* form = new QFormLayout(&dlg);
    auto* name = new QLineEdit(&dlg);
    name->setObjectName(QStringLiteral("keyName"));
    auto* role = new QComboBox(&dlg);
    role->setObjectName(QStringLiteral("keyRole"));
    role->addItems(roleItems());
    if (owner) role->setCurrentIndex(owner->role() == v1::ROLE_ADMIN ? 0 : owner->role() == v1::ROLE_AUDITOR ? 1 : 0);
    role->setEnabled(anyRole);
    auto* days = new QSpinBox(&dlg);
    days->setObjectName(QStringLiteral("keyExpiresDays"));
    days->setRange(0, 3650);
    days->setValue(90);
    days->setSpecialValueText(tr("never"));
    form->addRow(tr("Owner:"), new QLabel(owner ? QString::fromStdString(owner->name()) : tr("you"), &dlg));
    form->addRow(tr("Key name:"), name);
    form->addRow(tr("Role:"), role);
    form->addRow(tr("Expires after days:"), days);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
    connect(buttons, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
    form->addRow(buttons);
    if (dlg.exec() != QDialog::Accepted) return;
    if (name->text().trimmed().isEmpty()) {
        say([] { return tr("A key needs a name."); }, true);
        return;
    }
    v1::CreateKeyRequest req;
    req.set_name(name->text().trimmed().toStdString());
    req.set_user_id(ownerId);
    req.set_role(anyRole ? roleAt(role->currentIndex()) : owner->role());
    if (days->value() > 0) req.set_expires_ms(QDateTime::currentMSecsSinceEpoch() + qint64(days->value()) * 86400000);
    m_client.call("Users.CreateKey", &v1::Users::Stub::CreateKey, req, this,
                  [this](const v1::CreateKeyReply& r) {
                      SecretDialog(QString::fromStdString(r.key().name()), QString::fromStdString(r.secret()), this).exec();
                      loadKeys();
                  },
                  failer());
}

void UsersPage::revokeKey() {
    const auto rows = m_keyView->selectionModel()->selectedRows();
    if (rows.isEmpty()) {
        say([] { return tr("Select a key to revoke first."); }, true);
        return;
    }
    v1::RevokeKeyRequest req;
    req.set_id(m_keys.data(rows.first(), Qt::UserRole).toLongLong());
    const QString name = m_keys.data(m_keys.index(rows.first().row(), app::KeysModel::Name)).toString();
    m_client.call(
        "Users.RevokeKey", &v1::Users::Stub::RevokeKey, req, this,
        [this, name](const v1::RevokeKeyReply&) {
            say([name] { return tr("Revoked the key %1").arg(name); }, false);
            loadKeys();
        },
        failer());
}

}  // namespace enclave::ui
