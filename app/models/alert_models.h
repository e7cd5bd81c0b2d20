// Item models of the Alerts page and the dashboard's alert history: rules (Alerts.ListRules, edited in
// place through setData on the editable columns, then saved with Alerts.PutRule by the page) and events
// (Alerts.ListEvents, then new ones from WatchEvents prepended). Qt::UserRole gives the rule id / event id.
#pragma once

#include "app/models/row_table_model.h"
#include "enclave.pb.h"

namespace enclave::app {

class AlertRulesModel : public RowTableModel<enclave::v1::AlertRule> {
    Q_OBJECT
public:
    enum Column { Name, Metric, Comparison, Threshold, For, Severity, Enabled, ColumnCount };
    using RowTableModel::RowTableModel;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    // Rows edited since the last setRows (their ids; new rules have an empty id and are tracked by row).
    QList<int> dirtyRows() const { return m_dirty; }

protected:
    int columns() const override { return ColumnCount; }

private:
    QList<int> m_dirty;
};

class AlertEventsModel : public RowTableModel<enclave::v1::AlertEvent> {
    Q_OBJECT
public:
    enum Column { Time, Rule, Severity, State, Subject, Value, ColumnCount };
    using RowTableModel::RowTableModel;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

protected:
    int columns() const override { return ColumnCount; }
};

QString severityName(const std::string& severity);
// A rule's name as shown: the engine's default rules translated, any other name as written.
QString ruleName(const std::string& name);

}  // namespace enclave::app
