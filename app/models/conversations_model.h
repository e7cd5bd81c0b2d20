// The chat page's conversation list (Conversations.ListConversations), newest first as the engine sends
// it. Qt::UserRole gives the conversation id (qint64).
#pragma once

#include "app/models/row_table_model.h"
#include "enclave.pb.h"

namespace enclave::app {

class ConversationsModel : public RowTableModel<enclave::v1::ConversationSummary> {
    Q_OBJECT
public:
    enum Column { Title, Model, Messages, Updated, ColumnCount };
    using RowTableModel::RowTableModel;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    int rowOf(qint64 id) const;  // -1 when absent

protected:
    int columns() const override { return ColumnCount; }
};

}  // namespace enclave::app
