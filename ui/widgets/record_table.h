// A read-only table of engine records (models, users, keys, ...): whole rows selected one at a time, no row
// numbers, columns sized to the data whenever the model is reset.
#pragma once

class QAbstractItemModel;
class QTableView;
class QWidget;

namespace enclave::ui {

QTableView* makeRecordTable(QAbstractItemModel* model, QWidget* parent, bool alternatingRowColors = false);

}  // namespace enclave::ui
