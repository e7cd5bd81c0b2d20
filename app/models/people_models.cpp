#include "app/models/people_models.h"

#include <QCoreApplication>

namespace enclave::app {

QString roleName(enclave::v1::Role role) {
    switch (role) {
    case enclave::v1::ROLE_ADMIN: return QCoreApplication::translate("Roles", "admin");
    case enclave::v1::ROLE_ANALYST: return QCoreApplication::translate("Roles", "analyst");
    case enclave::v1::ROLE_AUDITOR: return QCoreApplication::translate("Roles", "auditor");
    default: return QCoreApplication::translate("Roles", "none");
    }
}

QString limitsText(const enclave::v1::Limits& l) {
    if (l.requests_per_minute() == 0 && l.tokens_per_minute() == 0 && l.concurrent_streams() == 0)
        return QCoreApplication::translate("Roles", "unlimited");
    const auto n = [](int v) { return v == 0 ? QStringLiteral("∞") : QString::number(v); };
    return QCoreApplication::translate("Roles", "%1 req/min, %2 tokens/min, %3 streams")
        .arg(n(l.requests_per_minute()), n(l.tokens_per_minute()), n(l.concurrent_streams()));
}

QVariant UsersModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const auto& u = m_rows.at(index.row());
    if (role == Qt::UserRole) return qint64(u.id());
    if (role != Qt::DisplayRole) return {};
    switch (index.column()) {
    case Name: return QString::fromStdString(u.name());
    case Role: return roleName(u.role());
    case Status:
        if (u.disabled()) return tr("disabled");
        if (u.locked_until_ms() > QDateTime::currentMSecsSinceEpoch()) return tr("locked until %1").arg(fmt::time(u.locked_until_ms()));
        return tr("active");
    case Created: return fmt::time(u.created_ms());
    case LastLogin: return u.last_login_ms() ? fmt::time(u.last_login_ms()) : tr("never");
    case Limits: return limitsText(u.limits());
    }
    return {};
}

QVariant UsersModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Name: return tr("Name");
    case Role: return tr("Role");
    case Status: return tr("Status");
    case Created: return tr("Created");
    case LastLogin: return tr("Last sign-in");
    case Limits: return tr("Limits");
    }
    return {};
}

int UsersModel::rowOf(qint64 id) const {
    for (int i = 0; i < m_rows.size(); ++i)
        if (m_rows[i].id() == id) return i;
    return -1;
}

QVariant KeysModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const auto& k = m_rows.at(index.row());
    if (role == Qt::UserRole) return qint64(k.id());
    if (role != Qt::DisplayRole) return {};
    switch (index.column()) {
    case Name: return QString::fromStdString(k.name());
    case Prefix: return QString::fromStdString(k.prefix()) + QStringLiteral("…");
    case Owner: return QString::number(k.user_id());
    case Role: return roleName(k.role());
    case Models: {
        if (k.models_size() == 0) return tr("all");
        QStringList m;
        for (const auto& s : k.models()) m << QString::fromStdString(s);
        return m.join(QStringLiteral(", "));
    }
    case Created: return fmt::time(k.created_ms());
    case Expires: return k.expires_ms() ? fmt::time(k.expires_ms()) : tr("never");
    case Status:
        if (k.revoked()) return tr("revoked");
        if (k.expires_ms() && k.expires_ms() < QDateTime::currentMSecsSinceEpoch()) return tr("expired");
        return tr("active");
    }
    return {};
}

QVariant KeysModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Name: return tr("Name");
    case Prefix: return tr("Key prefix");
    case Owner: return tr("User id");
    case Role: return tr("Role");
    case Models: return tr("Models");
    case Created: return tr("Created");
    case Expires: return tr("Expires");
    case Status: return tr("Status");
    }
    return {};
}

}  // namespace enclave::app
