// Alerts (admins): the engine's alert rules (metric, comparison, threshold, duration, severity,
// enabled) edited in a table and saved with Alerts.PutRule; new rules and deletion; the metric names
// the engine accepts are offered in the "New rule" dialog.
#pragma once

#include "app/models/alert_models.h"
#include "ui/page.h"

class QGroupBox;
class QLabel;
class QPushButton;
class QTableView;

namespace enclave::ui {

class AlertsPage : public Page {
    Q_OBJECT
public:
    explicit AlertsPage(EngineClient& client, QWidget* parent = nullptr);
    QString title() const override { return tr("Alerts"); }
    void refresh() override;
    app::AlertRulesModel& rules() { return m_rules; }
    void save();

protected:
    void retranslate() override;

private:
    void addRule();
    void deleteRule();

    app::AlertRulesModel m_rules;
    QStringList m_metrics;
    QGroupBox* m_box;
    QLabel* m_help;
    QTableView* m_view;
    QPushButton* m_add;
    QPushButton* m_delete;
    QPushButton* m_save;
    QPushButton* m_reload;
};

}  // namespace enclave::ui
