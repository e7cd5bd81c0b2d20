#include "app/models/alert_models.h"

#include <QCoreApplication>

namespace enclave::app {

QString severityName(const std::string& severity) {
    if (severity == "critical") return QCoreApplication::translate("Alerts", "critical");
    if (severity == "warning") return QCoreApplication::translate("Alerts", "warning");
    return QString::fromStdString(severity);
}

QString ruleName(const std::string& name) {
    // The engine stores its default rules under English names; shown translated while an admin has not
    // renamed them (a renamed rule is shown as written).
    static const char* const defaults[] = {
        QT_TRANSLATE_NOOP("Alerts", "GPU temperature high"),
        QT_TRANSLATE_NOOP("Alerts", "GPU memory almost full"),
        QT_TRANSLATE_NOOP("Alerts", "Success ratio low"),
        QT_TRANSLATE_NOOP("Alerts", "Mean inter-token latency high"),
        QT_TRANSLATE_NOOP("Alerts", "Queue deep"),
        QT_TRANSLATE_NOOP("Alerts", "Audit log cannot be written"),
    };
    for (const char* d : defaults)
        if (name == d) return QCoreApplication::translate("Alerts", d);
    return QString::fromStdString(name);
}

QVariant AlertRulesModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const auto& r = m_rows.at(index.row());
    if (role == Qt::UserRole) return QString::fromStdString(r.id());
    if (role == Qt::CheckStateRole && index.column() == Enabled) return r.enabled() ? Qt::Checked : Qt::Unchecked;
    if (role != Qt::DisplayRole && role != Qt::EditRole) return {};
    switch (index.column()) {
    case Name: return role == Qt::EditRole ? QString::fromStdString(r.name()) : ruleName(r.name());
    case Metric: return QString::fromStdString(r.metric());
    case Comparison: return QString::fromStdString(r.comparison());
    case Threshold: return r.threshold();
    case For: return qint64(r.for_seconds());
    case Severity: return role == Qt::EditRole ? QString::fromStdString(r.severity()) : severityName(r.severity());
    case Enabled: return role == Qt::EditRole ? QVariant(r.enabled()) : QVariant(r.enabled() ? tr("on") : tr("off"));
    }
    return {};
}

QVariant AlertRulesModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Name: return tr("Name");
    case Metric: return tr("Metric");
    case Comparison: return tr("Comparison");
    case Threshold: return tr("Threshold");
    case For: return tr("For (s)");
    case Severity: return tr("Severity");
    case Enabled: return tr("Enabled");
    }
    return {};
}

Qt::ItemFlags AlertRulesModel::flags(const QModelIndex& index) const {
    Qt::ItemFlags f = RowTableModel::flags(index);
    if (!index.isValid()) return f;
    if (index.column() == Enabled) return f | Qt::ItemIsUserCheckable;
    return f | Qt::ItemIsEditable;
}

bool AlertRulesModel::setData(const QModelIndex& index, const QVariant& value, int role) {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return false;
    auto r = m_rows.at(index.row());
    if (index.column() == Enabled && role == Qt::CheckStateRole) {
        r.set_enabled(value.toInt() == Qt::Checked);
    } else if (role == Qt::EditRole) {
        bool ok = true;
        switch (index.column()) {
        case Name: r.set_name(value.toString().toStdString()); break;
        case Metric: r.set_metric(value.toString().toStdString()); break;
        case Comparison: {
            const QString c = value.toString();
            if (c != QLatin1String(">") && c != QLatin1String(">=") && c != QLatin1String("<") && c != QLatin1String("<="))
                return false;
            r.set_comparison(c.toStdString());
            break;
        }
        case Threshold: r.set_threshold(value.toDouble(&ok)); break;
        case For: r.set_for_seconds(value.toLongLong(&ok)); break;
        case Severity: r.set_severity(value.toString().toStdString()); break;
        case Enabled: r.set_enabled(value.toBool()); break;
        default: return false;
        }
        if (!ok) return false;
    } else {
        return false;
    }
    m_rows[index.row()] = r;
    if (!m_dirty.contains(index.row())) m_dirty.append(index.row());
    emit dataChanged(index, index, {role, Qt::DisplayRole});
    return true;
}

QVariant AlertEventsModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const auto& e = m_rows.at(index.row());
    if (role == Qt::UserRole) return qint64(e.id());
    if (role != Qt::DisplayRole) return {};
    switch (index.column()) {
    case Time: return fmt::time(e.time_ms());
    case Rule: return ruleName(e.rule_name());
    case Severity: return severityName(e.severity());
    case State: return e.state() == "firing" ? tr("firing") : e.state() == "resolved" ? tr("resolved") : QString::fromStdString(e.state());
    case Subject: return QString::fromStdString(e.subject());
    case Value: return QString::number(e.value(), 'g', 4);
    }
    return {};
}

QVariant AlertEventsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Time: return tr("Time");
    case Rule: return tr("Rule");
    case Severity: return tr("Severity");
    case State: return tr("State");
    case Subject: return tr("Subject");
    case Value: return tr("Value");
    }
    return {};
}

}  // namespace enclave::app
