// Audit (auditors; admins read): a paged table of Audit.Query results with filters (time range, actor,
// action class, result, text), the selected record's details and hashes, chain verification with
// progress (Audit.Verify), and export as CSV or JSON (Audit.Export, streamed into a file with progress).
#pragma once

#include <QFile>
#include <memory>

#include "app/models/audit_model.h"
#include "ui/page.h"

class QCheckBox;
class QComboBox;
class QDateTimeEdit;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QTableView;

namespace enclave::ui {

class AuditPage : public Page {
    Q_OBJECT
public:
    explicit AuditPage(EngineClient& client, QWidget* parent = nullptr);
    QString title() const override { return tr("Audit log"); }
    void refresh() override;
    void forgetUser() override;
    void verify();
    // Exports the current filter to `path` (csv or json); progress and the result show on the page.
    void exportTo(const QString& path, const QString& format);

signals:
    void verifyFinished(bool ok);
    void exportFinished(bool ok);

protected:
    void retranslate() override;

private:
    v1::AuditQuery query() const;
    void search(bool more);
    void showDetails();
    void exportDialog(const QString& format);

    app::AuditModel m_model;
    QGroupBox* m_filterBox;
    QCheckBox* m_useTime;
    QDateTimeEdit* m_since;
    QDateTimeEdit* m_until;
    QLabel* m_sinceLabel;
    QLabel* m_untilLabel;
    QLabel* m_actorLabel;
    QLineEdit* m_actor;
    QLabel* m_classLabel;
    QComboBox* m_class;
    QLabel* m_resultLabel;
    QComboBox* m_result;
    QLabel* m_textLabel;
    QLineEdit* m_text;
    QPushButton* m_search;
    QTableView* m_view;
    QLabel* m_count;
    QPushButton* m_more;
    QPlainTextEdit* m_details;
    QPushButton* m_verify;
    QLabel* m_verifyState;
    QPushButton* m_exportCsv;
    QPushButton* m_exportJson;
    QProgressBar* m_progress;
    std::shared_ptr<QFile> m_exportFile;
    std::function<QString()> m_verifyText;  // the verification's state, rendered in the current language
};

}  // namespace enclave::ui
