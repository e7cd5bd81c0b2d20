#include "app/models/audit_model.h"


namespace enclave::app {

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
    case Role: return s(r.role());
    case Source: return s(r.source());
    case ActionClass: return s(r.action_class());
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
