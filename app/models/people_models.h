// Item models of the Users page: accounts (Users.ListUsers) and API keys (Users.ListKeys). Qt::UserRole
// gives the record id (qint64). roleName() is the one place a Role becomes text.
#pragma once

#include "app/models/row_table_model.h"
#include "enclave.pb.h"

namespace enclave::app {

QString roleName(enclave::v1::Role role);  // translated: "admin", "analyst", "auditor"

class UsersModel : public RowTableModel<enclave::v1::User> {
    Q_OBJECT
public:
    enum Column { Name, Role, Status, Created, LastLogin, Limits, ColumnCount };
    using RowTableModel::RowTableModel;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    int rowOf(qint64 id) const;

protected:
    int columns() const override { return ColumnCount; }
};

class KeysModel : public RowTableModel<enclave::v1::ApiKey> {
    Q_OBJECT
public:
    enum Column { Name, Prefix, Owner, Role, Models, Created, Expires, Status, ColumnCount };
    using RowTableModel::RowTableModel;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

protected:
    int columns() const override { return ColumnCount; }
};

QString limitsText(const enclave::v1::Limits& limits);

}  // namespace enclave::app
