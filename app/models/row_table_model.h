// RowTableModel<Row>: a flat table over a list of engine records (generated proto messages), the base of
// the console's item models. Rows change only through setRows/appendRows/prependRow/replaceRow, which
// emit the matching model signals (checked by QAbstractItemModelTester in tests/app). GUI thread only.
#pragma once

#include <QAbstractTableModel>
#include <QDateTime>
#include <QList>

namespace enclave::app {

// Shared cell formatting, so every table shows times and sizes the same way.
namespace fmt {
QString time(qint64 unixMs);   // local time "yyyy-MM-dd HH:mm:ss", empty for 0
QString bytes(double bytes);   // "1.5 GiB"
QString count(double n);       // "135 M"
}  // namespace fmt

template <class Row>
class RowTableModel : public QAbstractTableModel {
public:
    using QAbstractTableModel::QAbstractTableModel;

    int rowCount(const QModelIndex& parent = {}) const override { return parent.isValid() ? 0 : int(m_rows.size()); }
    int columnCount(const QModelIndex& parent = {}) const override { return parent.isValid() ? 0 : columns(); }

    const Row& rowAt(int row) const { return m_rows.at(row); }
    const QList<Row>& rows() const { return m_rows; }

    void setRows(QList<Row> rows) {
        beginResetModel();
        m_rows = std::move(rows);
        endResetModel();
    }
    void appendRows(const QList<Row>& rows) {
        if (rows.isEmpty()) return;
        beginInsertRows({}, int(m_rows.size()), int(m_rows.size() + rows.size() - 1));
        m_rows.append(rows);
        endInsertRows();
    }
    void prependRow(const Row& row) {
        beginInsertRows({}, 0, 0);
        m_rows.prepend(row);
        endInsertRows();
    }
    void replaceRow(int row, const Row& value) {
        m_rows[row] = value;
        emit dataChanged(index(row, 0), index(row, columns() - 1));
    }
    void removeRowAt(int row) {
        beginRemoveRows({}, row, row);
        m_rows.removeAt(row);
        endRemoveRows();
    }

protected:
    virtual int columns() const = 0;
    QList<Row> m_rows;
};

// Builds a QList from a repeated proto field.
template <class Repeated>
auto toList(const Repeated& repeated) {
    QList<typename Repeated::value_type> out;
    out.reserve(repeated.size());
    for (const auto& r : repeated) out.append(r);
    return out;
}

}  // namespace enclave::app
