// Users (admins): accounts with create, disable/enable, delete, password reset, role and limits; the
// selected user's API keys with create (the secret shown once) and revoke. Every change is one
// Users.* call; the table reloads from the engine after it, so what shows is what the engine holds.
#pragma once

#include "app/models/people_models.h"
#include "ui/page.h"

class QGroupBox;
class QPushButton;
class QTableView;

namespace enclave::ui {

class UsersPage : public Page {
    Q_OBJECT
public:
    explicit UsersPage(EngineClient& client, QWidget* parent = nullptr);
    QString title() const override { return tr("Users"); }
    void refresh() override;

protected:
    void retranslate() override;

private:
    qint64 selectedUser() const;
    const v1::User* selectedRow();  // nullptr (and says so) when no user is selected
    void createUser();
    void update(const v1::UpdateUserRequest& req, std::function<QString()> done);
    void toggleDisabled();
    void deleteUser();
    void resetPassword();
    void changeRole();
    void editLimits();
    void loadKeys();
    void createKey();
    void revokeKey();

    app::UsersModel m_users;
    app::KeysModel m_keys;
    QGroupBox* m_usersBox;
    QGroupBox* m_keysBox;
    QTableView* m_userView;
    QTableView* m_keyView;
    QPushButton* m_create;
    QPushButton* m_disable;
    QPushButton* m_delete;
    QPushButton* m_password;
    QPushButton* m_role;
    QPushButton* m_limits;
    QPushButton* m_newKey;
    QPushButton* m_revokeKey;
};

}  // namespace enclave::ui
