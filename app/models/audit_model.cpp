#include "app/models/audit_model.h"

#include <QCoreApplication>

#include "app/models/people_models.h"

namespace enclave::app {

QString auditRoleName(const std::string& role) {
    if (role == "admin") return roleName(enclave::v1::ROLE_ADMIN);
    if (role == "analyst") return roleName(enclave::v1::ROLE_ANALYST);
    if (role == "auditor") return roleName(enclave::v1::ROLE_AUDITOR);
    return QString::fromStdString(role);
}

const QList<QByteArray>& actionClasses() {
    static const QList<QByteArray> codes = {"AUTH", "USER", "KEY", "MODEL", "CONFIG", "INFERENCE", "AUDIT"};
    return codes;
}

QString actionClassName(const std::string& actionClass) {
    static const char* const names[] = {QT_TRANSLATE_NOOP("AuditClasses", "sign-in and sessions"),
                                        QT_TRANSLATE_NOOP("AuditClasses", "users"),
                                        QT_TRANSLATE_NOOP("AuditClasses", "API keys"),
                                        QT_TRANSLATE_NOOP("AuditClasses", "models"),
                                        QT_TRANSLATE_NOOP("AuditClasses", "configuration"),
                                        QT_TRANSLATE_NOOP("AuditClasses", "inference"),
                                        QT_TRANSLATE_NOOP("AuditClasses", "audit log")};
    const qsizetype i = actionClasses().indexOf(QByteArray::fromStdString(actionClass));
    return i >= 0 ? QCoreApplication::translate("AuditClasses", names[i]) : QString::fromStdString(actionClass);
}

QVariant AuditModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const auto& r = m_rows.at(index.row());
    if (role == Qt::UserRole) return qint64(r.seq());
    if (role != Qt::DisplayRole) return {};
    const auto s = [](const std::string& v) { return QString::fromStdString(v); };
    switch (index.column()) {
    case Seq: return qint64(r.seq());
    case Time: return fmt::time(r.time_ms());
    // Actors and targets that are users are stored as pseudonyms; the engine adds the name while the
    // user is not erased.
    case Actor: return r.actor_name().empty() ? s(r.actor()) : s(r.actor_name());
    case Role: return auditRoleName(r.role());
    case Source: return s(r.source());
    case ActionClass: return actionClassName(r.action_class());
    case Action: return s(r.action());
    case Target: return r.target_name().empty() ? s(r.target()) : s(r.target_name());
    case Result:
        if (r.result() == "ok") return tr("ok");
        if (r.result() == "denied") return tr("denied");
        if (r.result() == "error") return tr("error");
        return s(r.result());
    }
    return {};
}

QVariant AuditModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Seq: return tr("Seq");
    case Time: return tr("Time");
    case Actor: return tr("Actor");
    case Role: return tr("Role");
    case Source: return tr("Source");
    case ActionClass: return tr("Class");
    case Action: return tr("Action");
    case Target: return tr("Target");
    case Result: return tr("Result");
    }
    return {};
}

void AuditModel::applyPage(const enclave::v1::AuditPage& page, bool append) {
    m_next = page.next_before_seq();
    if (!append) m_total = page.total_matching();
    if (append)
        appendRows(toList(page.records()));
    else
        setRows(toList(page.records()));
}

}  // namespace enclave::app
