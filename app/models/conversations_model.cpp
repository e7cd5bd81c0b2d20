#include "app/models/conversations_model.h"

namespace enclave::app {

QVariant ConversationsModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const auto& c = m_rows.at(index.row());
    if (role == Qt::UserRole) return qint64(c.id());
    if (role != Qt::DisplayRole) return {};
    switch (index.column()) {
    case Title: return c.title().empty() ? tr("(untitled)") : QString::fromStdString(c.title());
    case Model: return QString::fromStdString(c.model());
    case Messages: return c.messages();
    case Updated: return fmt::time(c.updated_ms());
    }
    return {};
}

QVariant ConversationsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Title: return tr("Title");
    case Model: return tr("Model");
    case Messages: return tr("Messages");
    case Updated: return tr("Updated");
    }
    return {};
}

int ConversationsModel::rowOf(qint64 id) const {
    for (int i = 0; i < m_rows.size(); ++i)
        if (m_rows[i].id() == id) return i;
    return -1;
}

}  // namespace enclave::app
