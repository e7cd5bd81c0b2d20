// The audit page's records (Audit.Query pages, newest first). A page from the engine either replaces the
// table (a new query) or is appended (the next page, before_seq paging). Qt::UserRole gives seq (qint64).
#pragma once

#include "app/models/row_table_model.h"
#include "enclave.pb.h"

namespace enclave::app {

class AuditModel : public RowTableModel<enclave::v1::AuditRecord> {
    Q_OBJECT
public:
    enum Column { Seq, Time, Actor, Role, Source, ActionClass, Action, Target, Result, ColumnCount };
    using RowTableModel::RowTableModel;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    // Applies a reply to a query: `append` for the next page of the same query.
    void applyPage(const enclave::v1::AuditPage& page, bool append);
    qint64 nextBeforeSeq() const { return m_next; }
    qint64 totalMatching() const { return m_total; }

protected:
    int columns() const override { return ColumnCount; }

private:
    qint64 m_next = 0;
    qint64 m_total = -1;
};

// The engine's codes in the user's language (a code it does not know stays as it is): a record's role
// ("admin", "analyst", "auditor") and action class ("AUTH", "USER", "KEY", "MODEL", "CONFIG", "INFERENCE",
// "AUDIT").
QString auditRoleName(const std::string& role);
QString actionClassName(const std::string& actionClass);
const QList<QByteArray>& actionClasses();  // the codes, in the order the Audit page offers them

}  // namespace enclave::app
