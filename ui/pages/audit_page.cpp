#include "ui/pages/audit_page.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDateTimeEdit>
#include <QFileDialog>
#include <QGridLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QJsonDocument>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QVBoxLayout>

namespace enclave::ui {

AuditPage::AuditPage(EngineClient& client, QWidget* parent) : Page(client, parent), m_model(this) {
    auto* layout = new QVBoxLayout(this);
    m_filterBox = new QGroupBox(this);
    auto* g = new QGridLayout(m_filterBox);
    m_useTime = new QCheckBox(m_filterBox);
    m_sinceLabel = new QLabel(m_filterBox);
    m_since = new QDateTimeEdit(QDateTime::currentDateTime().addDays(-7), m_filterBox);
    m_untilLabel = new QLabel(m_filterBox);
    m_until = new QDateTimeEdit(QDateTime::currentDateTime().addSecs(3600), m_filterBox);
    for (auto* e : {m_since, m_until}) {
        e->setCalendarPopup(true);
        e->setDisplayFormat(QStringLiteral("yyyy-MM-dd HH:mm"));
    }
    m_actorLabel = new QLabel(m_filterBox);
    m_actor = new QLineEdit(m_filterBox);
    m_classLabel = new QLabel(m_filterBox);
    m_class = new QComboBox(m_filterBox);
    m_class->addItem(QString());
    for (const QByteArray& c : app::actionClasses()) m_class->addItem(QString(), QString::fromLatin1(c));
    m_resultLabel = new QLabel(m_filterBox);
    m_result = new QComboBox(m_filterBox);
    m_result->addItems({QString(), QString(), QString(), QString()});
    m_textLabel = new QLabel(m_filterBox);
    m_text = new QLineEdit(m_filterBox);
    m_search = new QPushButton(m_filterBox);
    g->addWidget(m_useTime, 0, 0);
    g->addWidget(m_sinceLabel, 0, 1);
    g->addWidget(m_since, 0, 2);
    g->addWidget(m_untilLabel, 0, 3);
    g->addWidget(m_until, 0, 4);
    g->addWidget(m_actorLabel, 1, 0);
    g->addWidget(m_actor, 1, 1, 1, 2);
    g->addWidget(m_classLabel, 1, 3);
    g->addWidget(m_class, 1, 4);
    g->addWidget(m_resultLabel, 2, 0);
    g->addWidget(m_result, 2, 1, 1, 2);
    g->addWidget(m_textLabel, 2, 3);
    g->addWidget(m_text, 2, 4);
    g->addWidget(m_search, 2, 5);
    g->setColumnStretch(2, 1);  // the two date fields (and the fields under them) share the width
    g->setColumnStretch(4, 1);
    layout->addWidget(m_filterBox);

    auto* split = new QSplitter(Qt::Vertical, this);
    m_view = new QTableView(split);
    m_view->setModel(&m_model);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::SingleSelection);
    m_view->verticalHeader()->hide();
    m_view->setWordWrap(false);
    connect(&m_model, &QAbstractItemModel::modelReset, m_view, &QTableView::resizeColumnsToContents);
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_details = new QPlainTextEdit(split);
    m_details->setReadOnly(true);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 1);
    layout->addWidget(split, 1);

    auto* bar = new QHBoxLayout;
    m_count = new QLabel(this);
    m_more = new QPushButton(this);
    m_more->setEnabled(false);
    m_verify = new QPushButton(this);
    m_verifyState = new QLabel(this);
    m_exportCsv = new QPushButton(this);
    m_exportJson = new QPushButton(this);
    m_progress = new QProgressBar(this);
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progress->setMaximumWidth(160);
    bar->addWidget(m_count);
    bar->addWidget(m_more);
    bar->addStretch(1);
    bar->addWidget(m_verify);
    bar->addWidget(m_verifyState);
    bar->addWidget(m_progress);
    bar->addWidget(m_exportCsv);
    bar->addWidget(m_exportJson);
    layout->addLayout(bar);

    m_view->setObjectName(QStringLiteral("auditRecords"));
    m_search->setObjectName(QStringLiteral("search"));
    m_verify->setObjectName(QStringLiteral("verify"));
    m_verifyState->setObjectName(QStringLiteral("verifyState"));
    m_progress->setObjectName(QStringLiteral("auditProgress"));
    m_text->setObjectName(QStringLiteral("auditText"));
    m_details->setObjectName(QStringLiteral("auditDetails"));
    m_class->setObjectName(QStringLiteral("auditClass"));
    m_exportCsv->setObjectName(QStringLiteral("exportCsv"));
    m_exportJson->setObjectName(QStringLiteral("exportJson"));
    connect(m_search, &QPushButton::clicked, this, [this] { search(false); });
    connect(m_more, &QPushButton::clicked, this, [this] { search(true); });
    connect(m_verify, &QPushButton::clicked, this, &AuditPage::verify);
    connect(m_exportCsv, &QPushButton::clicked, this, [this] { exportDialog(QStringLiteral("csv")); });
    connect(m_exportJson, &QPushButton::clicked, this, [this] { exportDialog(QStringLiteral("json")); });
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this, &AuditPage::showDetails);
    connect(&m_model, &QAbstractItemModel::modelReset, this, &AuditPage::showDetails);
    retranslate();
}

void AuditPage::retranslate() {
    m_filterBox->setTitle(tr("Filters"));
    m_useTime->setText(tr("Time range"));
    m_sinceLabel->setText(tr("From:"));
    m_untilLabel->setText(tr("To:"));
    m_actorLabel->setText(tr("Actor:"));
    m_classLabel->setText(tr("Action class:"));
    m_class->setItemText(0, tr("any"));
    for (int i = 0; i < int(app::actionClasses().size()); ++i)
        m_class->setItemText(i + 1, app::actionClassName(app::actionClasses()[i].toStdString()));
    m_resultLabel->setText(tr("Result:"));
    m_result->setItemText(0, tr("any"));
    m_result->setItemText(1, tr("ok"));
    m_result->setItemText(2, tr("denied"));
    m_result->setItemText(3, tr("error"));
    m_textLabel->setText(tr("Text:"));
    m_text->setPlaceholderText(tr("in target or details"));
    m_search->setText(tr("Search"));
    m_more->setText(tr("Load more"));
    m_verify->setText(tr("Verify chain"));
    m_exportCsv->setText(tr("Export CSV…"));
    m_exportJson->setText(tr("Export JSON…"));
    m_verifyState->setText(m_verifyText ? m_verifyText() : tr("Chain not verified yet"));
    if (m_model.totalMatching() >= 0)
        m_count->setText(tr("%1 of %2 records").arg(m_model.rowCount()).arg(m_model.totalMatching()));
    else
        m_count->setText(tr("%1 records").arg(m_model.rowCount()));
}

v1::AuditQuery AuditPage::query() const {
    v1::AuditQuery q;
    if (m_useTime->isChecked()) {
        q.set_since_ms(m_since->dateTime().toMSecsSinceEpoch());
        q.set_until_ms(m_until->dateTime().toMSecsSinceEpoch());
    }
    q.set_actor(m_actor->text().trimmed().toStdString());
    q.set_action_class(m_class->currentData().toString().toStdString());
    static const char* const results[] = {"", "ok", "denied", "error"};
    q.set_result(results[std::clamp(m_result->currentIndex(), 0, 3)]);
    q.set_text(m_text->text().trimmed().toStdString());
    q.set_limit(200);
    return q;
}

void AuditPage::refresh() { search(false); }

void AuditPage::forgetUser() {
    m_model.setRows({});
    m_verifyText = {};
    m_progress->setValue(0);
    retranslate();
}

void AuditPage::search(bool more) {
    v1::AuditQuery q = query();
    if (more) q.set_before_seq(m_model.nextBeforeSeq());
    m_client.call("Audit.Query", &v1::Audit::Stub::Query, q, this,
                  [this, more](const v1::AuditPage& page) {
                      m_model.applyPage(page, more);
                      m_more->setEnabled(m_model.nextBeforeSeq() != 0);
                      retranslate();
                  },
                  failer());
}

void AuditPage::showDetails() {
    const auto rows = m_view->selectionModel()->selectedRows();
    if (rows.isEmpty()) {
        m_details->clear();
        return;
    }
    const auto& r = m_model.rowAt(rows.first().row());
    QString details = QString::fromStdString(r.details());
    const QJsonDocument doc = QJsonDocument::fromJson(details.toUtf8());
    if (!doc.isNull()) details = QString::fromUtf8(doc.toJson(QJsonDocument::Indented));
    m_details->setPlainText(
        tr("Record %1 at %2 by %3 (%4) from %5\n%6 %7 on %8: %9\n\nDetails:\n%10\n\nPrevious hash: %11\nHash: %12")
            .arg(r.seq())
            .arg(app::fmt::time(r.time_ms()),
                 QString::fromStdString(r.actor_name().empty() ? r.actor() : r.actor_name()),
                 app::auditRoleName(r.role()), QString::fromStdString(r.source()),
                 app::actionClassName(r.action_class()), QString::fromStdString(r.action()),
                 QString::fromStdString(r.target()),
                 m_model.data(m_model.index(rows.first().row(), app::AuditModel::Result)).toString())
            .arg(details, QString::fromStdString(r.prev_hash()), QString::fromStdString(r.hash())));
}

void AuditPage::verify() {
    m_verify->setEnabled(false);
    m_progress->setValue(0);
    m_verifyText = [] { return tr("Verifying…"); };
    retranslate();
    m_client.stream(
        "Audit.Verify", &v1::Audit::Stub::Verify, v1::VerifyAuditRequest{}, this,
        [this](const v1::VerifyAuditProgress& p) {
            m_progress->setValue(int(p.fraction() * 1000));
            if (!p.done()) return;
            if (p.ok())
                m_verifyText = [n = p.records_checked()] { return tr("Chain intact: %1 records verified").arg(n); };
            else
                m_verifyText = [seq = p.first_bad_seq(), problem = QString::fromStdString(p.problem())] {
                    return tr("Chain broken at record %1: %2").arg(seq).arg(problem);
                };
            retranslate();
            emit verifyFinished(p.ok());
        },
        [this](const EngineError* e) {
            m_verify->setEnabled(true);
            if (e) {
                m_verifyText = [] { return tr("Verification failed"); };
                retranslate();
                fail(*e);
                emit verifyFinished(false);
            }
        });
}

void AuditPage::exportDialog(const QString& format) {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export audit records"), QStringLiteral("audit.") + format,
                                                      format == QLatin1String("csv") ? tr("CSV files (*.csv)") : tr("JSON files (*.json)"));
    if (!path.isEmpty()) exportTo(path, format);
}

void AuditPage::exportTo(const QString& path, const QString& format) {
    m_exportFile = std::make_shared<QFile>(path);
    if (!m_exportFile->open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        say([=, this] { return tr("Could not write %1: %2").arg(path, m_exportFile->errorString()); }, true);
        emit exportFinished(false);
        return;
    }
    v1::ExportAuditRequest req;
    *req.mutable_filter() = query();
    req.set_format(format.toStdString());
    m_progress->setValue(0);
    auto file = m_exportFile;
    m_client.stream(
        "Audit.Export", &v1::Audit::Stub::Export, req, this,
        [this, file](const v1::ExportChunk& c) {
            file->write(c.data().data(), qint64(c.data().size()));
            m_progress->setValue(int(c.fraction() * 1000));
        },
        [this, file, path](const EngineError* e) {
            file->close();
            if (e) {
                file->remove();
                fail(*e);
                emit exportFinished(false);
                return;
            }
            m_progress->setValue(1000);
            say([=, this] { return tr("Exported the audit records to %1").arg(path); }, false);
            emit exportFinished(true);
        });
}

}  // namespace enclave::ui
