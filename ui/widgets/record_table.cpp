#include "ui/widgets/record_table.h"

#include <QAbstractItemModel>
#include <QHeaderView>
#include <QTableView>

namespace enclave::ui {

QTableView* makeRecordTable(QAbstractItemModel* model, QWidget* parent, bool alternatingRowColors) {
    auto* v = new QTableView(parent);
    v->setModel(model);
    v->setSelectionBehavior(QAbstractItemView::SelectRows);
    v->setSelectionMode(QAbstractItemView::SingleSelection);
    v->horizontalHeader()->setStretchLastSection(true);
    v->verticalHeader()->hide();
    v->setWordWrap(false);
    QObject::connect(model, &QAbstractItemModel::modelReset, v, &QTableView::resizeColumnsToContents);
    v->setAlternatingRowColors(alternatingRowColors);
    return v;
}

}  // namespace enclave::ui
