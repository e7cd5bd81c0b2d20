#include "ui/pages/alerts_page.h"

#include <QComboBox>
#include <QDialog>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTableView>
#include <QVBoxLayout>
#include <memory>

namespace enclave::ui {

AlertsPage::AlertsPage(EngineClient& client, QWidget* parent) : Page(client, parent), m_rules(this) {
    auto* layout = new QVBoxLayout(this);
    m_box = new QGroupBox(this);
    auto* bl = new QVBoxLayout(m_box);
    m_help = new QLabel(m_box);
    m_help->setWordWrap(true);
    bl->addWidget(m_help);
    m_view = new QTableView(m_box);
    m_view->setModel(&m_rules);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->verticalHeader()->hide();
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->setWordWrap(false);
    // Rule names and metrics are long: size the columns to them, not to their headers.
    connect(&m_rules, &QAbstractItemModel::modelReset, m_view, &QTableView::resizeColumnsToContents);
    bl->addWidget(m_view, 1);
    auto* bar = new QHBoxLayout;
    m_add = new QPushButton(m_box);
    m_delete = new QPushButton(m_box);
    m_reload = new QPushButton(m_box);
    m_save = new QPushButton(m_box);
    bar->addWidget(m_add);
    bar->addWidget(m_delete);
    bar->addStretch(1);
    bar->addWidget(m_reload);
    bar->addWidget(m_save);
    bl->addLayout(bar);
    layout->addWidget(m_box);
    m_view->setObjectName(QStringLiteral("alertRules"));
    m_add->setObjectName(QStringLiteral("newRule"));
    m_delete->setObjectName(QStringLiteral("deleteRule"));
    m_save->setObjectName(QStringLiteral("saveRules"));
    connect(m_add, &QPushButton::clicked, this, &AlertsPage::addRule);
    connect(m_delete, &QPushButton::clicked, this, &AlertsPage::deleteRule);
    connect(m_reload, &QPushButton::clicked, this, &AlertsPage::refresh);
    connect(m_save, &QPushButton::clicked, this, &AlertsPage::save);
    retranslate();
}

void AlertsPage::retranslate() {
    m_box->setTitle(tr("Alert rules"));
    m_help->setText(tr("Double-click a cell to edit it, then save. A rule fires when the metric compared with the threshold "
                       "holds for the given number of seconds."));
    m_add->setText(tr("New rule…"));
    m_delete->setText(tr("Delete rule"));
    m_reload->setText(tr("Discard changes"));
    m_save->setText(tr("Save changes"));
}

void AlertsPage::refresh() {
    m_client.call("Alerts.ListRules", &v1::Alerts::Stub::ListRules, v1::ListAlertRulesRequest{}, this,
                  [this](const v1::ListAlertRulesReply& r) {
                      m_metrics.clear();
                      for (const auto& m : r.metrics()) m_metrics << QString::fromStdString(m);
                      m_rules.setRows(app::toList(r.rules()));
                  },
                  failer());
}

void AlertsPage::save() {
    const QList<int> dirty = m_rules.dirtyRows();
    if (dirty.isEmpty()) {
        say([=, this] { return tr("No changes to save."); }, false);
        return;
    }
    // Reload once every rule has been answered: a reload that overtook a save would show the old rule and
    // drop the edit (the calls run in parallel).
    auto pending = std::make_shared<int>(int(dirty.size()));
    const auto answered = [this, pending] {
        if (--*pending == 0) refresh();
    };
    for (int row : dirty)
        m_client.call(
            "Alerts.PutRule", &v1::Alerts::Stub::PutRule, m_rules.rowAt(row), this,
            [this, answered](const v1::AlertRule& r) {
                say([name = r.name()] { return tr("Saved the rule %1").arg(app::ruleName(name)); }, false);
                answered();
            },
            [this, answered](const EngineError& e) {
                fail(e);
                answered();
            });
}

void AlertsPage::addRule() {
    QDialog dlg(this);
    dlg.setWindowTitle(tr("New alert rule"));
    auto* form = new QFormLayout(&dlg);
    auto* name = new QLineEdit(&dlg);
    name->setObjectName(QStringLiteral("ruleName"));
    auto* metric = new QComboBox(&dlg);
    metric->setObjectName(QStringLiteral("ruleMetric"));
    metric->setEditable(true);
    metric->addItems(m_metrics);
    auto* cmp = new QComboBox(&dlg);
    cmp->setObjectName(QStringLiteral("ruleComparison"));
    cmp->addItems({QStringLiteral(">"), QStringLiteral(">="), QStringLiteral("<"), QStringLiteral("<=")});
    auto* threshold = new QDoubleSpinBox(&dlg);
    threshold->setObjectName(QStringLiteral("ruleThreshold"));
    threshold->setRange(-1e12, 1e12);
    threshold->setDecimals(3);
    auto* seconds = new QSpinBox(&dlg);
    seconds->setObjectName(QStringLiteral("ruleSeconds"));
    seconds->setRange(0, 86400);
    seconds->setValue(60);
    auto* severity = new QComboBox(&dlg);
    severity->setObjectName(QStringLiteral("ruleSeverity"));
    severity->addItem(app::severityName("warning"), QStringLiteral("warning"));
    severity->addItem(app::severityName("critical"), QStringLiteral("critical"));
    form->addRow(tr("Name:"), name);
    form->addRow(tr("Metric:"), metric);
    form->addRow(tr("Comparison:"), cmp);
    form->addRow(tr("Threshold:"), threshold);
    form->addRow(tr("For (seconds):"), seconds);
    form->addRow(tr("Severity:"), severity);
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dlg);
    connect(buttons, &QDialogButtonBox::accepted, &dlg, &QDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, &dlg, &QDialog::reject);
    form->addRow(buttons);
    if (dlg.exec() != QDialog::Accepted) return;
    v1::AlertRule rule;
    rule.set_name(name->text().trimmed().toStdString());
    rule.set_metric(metric->currentText().trimmed().toStdString());
    rule.set_comparison(cmp->currentText().toStdString());
    rule.set_threshold(threshold->value());
    rule.set_for_seconds(seconds->value());
    rule.set_severity(severity->currentData().toString().toStdString());
    rule.set_enabled(true);
    m_client.call(
        "Alerts.PutRule", &v1::Alerts::Stub::PutRule, rule, this,
        [this](const v1::AlertRule& r) {
            say([name = r.name()] { return tr("Saved the rule %1").arg(app::ruleName(name)); }, false);
            refresh();
        },
        failer());
}

void AlertsPage::deleteRule() {
    const auto rows = m_view->selectionModel()->selectedRows();
    if (rows.isEmpty()) {
        say([] { return tr("Select a rule to delete first."); }, true);
        return;
    }
    v1::DeleteAlertRuleRequest req;
    req.set_id(m_rules.data(rows.first(), Qt::UserRole).toString().toStdString());
    m_client.call("Alerts.DeleteRule", &v1::Alerts::Stub::DeleteRule, req, this,
                  [this](const v1::DeleteAlertRuleReply&) { refresh(); }, failer());
}

}  // namespace enclave::ui
