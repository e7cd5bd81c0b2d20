// The Audit page's exports through its buttons and the save dialog, against a real engine: the JSON file
// parses, its records are the engine's (same sequence numbers, hashes, actions and actors as Audit.Query
// returns, and they chain: each record's prev_hash is the hash before it); the CSV export honours the
// page's filter (action class "users") and holds exactly the engine's matching records.
#include <QFileDialog>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProgressBar>

#include "console_fixture.h"
#include "ui/pages/audit_page.h"

using namespace enclave;
using app::Session;
using test::child;
using test::waitFor;

namespace {
// RFC 4180 fields: commas, quotes and newlines inside quotes (the details column is JSON).
QList<QStringList> parseCsv(const QString& text) {
    QList<QStringList> rows;
    QStringList row;
    QString field;
    bool quoted = false;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const QChar c = text[i];
        if (quoted) {
            if (c == QLatin1Char('"') && i + 1 < text.size() && text[i + 1] == QLatin1Char('"')) {
                field += c;
                ++i;
            } else if (c == QLatin1Char('"')) {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == QLatin1Char('"')) {
            quoted = true;
        } else if (c == QLatin1Char(',')) {
            row << field;
            field.clear();
        } else if (c == QLatin1Char('\n')) {
            row << field;
            rows << row;
            row.clear();
            field.clear();
        } else if (c != QLatin1Char('\r')) {
            field += c;
        }
    }
    if (!field.isEmpty() || !row.isEmpty()) rows << (row << field);
    return rows;
}
}  // namespace

class TstAuditPage : public QObject {
    Q_OBJECT
    std::unique_ptr<test::Console> m_console;

    ui::AuditPage* page() const { return static_cast<ui::AuditPage*>(m_console->page(Session::Page::Audit)); }
    ui::MainWindow* w() const { return m_console->window.get(); }

    // The engine's records for `query`, by sequence number.
    QMap<qint64, v1::AuditRecord> engineRecords(v1::AuditQuery query = {}) const {
        query.set_limit(1000);
        QMap<qint64, v1::AuditRecord> out;
        if (const auto page = test::ask(*m_console->client, "Audit.Query", &v1::Audit::Stub::Query, query))
            for (const auto& r : page->records()) out.insert(r.seq(), r);
        return out;
    }

    // Presses the export button and answers the save dialog with `path`; true when the page says it is done.
    bool exportThroughDialog(const char* button, const QString& path) {
        QSignalSpy finished(page(), &ui::AuditPage::exportFinished);
        test::whenDialogShows([path](QDialog* dlg) {
            QVERIFY(qobject_cast<QFileDialog*>(dlg));
            child<QLineEdit>(dlg, "fileNameEdit")->setText(path);  // typed into the file name box
        });
        child<QPushButton>(page(), button)->click();
        return (finished.size() > 0 || finished.wait(30000)) && finished.first().first().toBool();
    }

private slots:
    void initTestCase() {
        m_console = std::make_unique<test::Console>();
        QString why;
        QVERIFY2(m_console->deployAndBootstrap(&why), qPrintable(why));
        // Records of several classes: users, a refused sign-in, a generation.
        QVERIFY(m_console->createUser(QStringLiteral("ana"), v1::ROLE_ANALYST,
                                      QStringLiteral("Tr0ubadour-And-Three-Dogs")));
        QVERIFY(m_console->createUser(QStringLiteral("audrey"), v1::ROLE_AUDITOR,
                                      QStringLiteral("Purple-Monkey-Dishwasher-42")));
        QVERIFY(m_console->loginElsewhere(QStringLiteral("ana"), QStringLiteral("wrong-password-123")).isEmpty());
        QVERIFY(test::generateOnce(*m_console->client));
        QVERIFY(w()->showPage(Session::Page::Audit));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Audit, "auditRecords") >= 5; }, 10000));
    }

    void exportJsonMatchesTheEngine() {
        const QString path = m_console->dir.filePath(QStringLiteral("all-records.json"));
        QVERIFY2(exportThroughDialog("exportJson", path), qPrintable(w()->lastMessage()));
        QCOMPARE(child<QProgressBar>(page(), "auditProgress")->value(), 1000);
        QCOMPARE(w()->lastMessage(), QStringLiteral("Exported the audit records to %1").arg(path));

        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &error);
        QVERIFY2(error.error == QJsonParseError::NoError, qPrintable(error.errorString()));
        QVERIFY(doc.isArray());
        const QJsonArray exported = doc.array();
        QVERIFY(exported.size() >= 5);

        const auto engine = engineRecords();
        QStringList actions;
        QString previousHash;
        qint64 previousSeq = 0;
        for (const QJsonValue& v : exported) {
            const QJsonObject r = v.toObject();
            const qint64 seq = r.value(QLatin1String("seq")).toInteger();
            QVERIFY2(engine.contains(seq), qPrintable(QStringLiteral("record %1 is not the engine's").arg(seq)));
            const v1::AuditRecord& e = engine[seq];
            QCOMPARE(r.value(QLatin1String("hash")).toString(), QString::fromStdString(e.hash()));
            QCOMPARE(r.value(QLatin1String("prev_hash")).toString(), QString::fromStdString(e.prev_hash()));
            QCOMPARE(r.value(QLatin1String("action")).toString(), QString::fromStdString(e.action()));
            QCOMPARE(r.value(QLatin1String("actor")).toString(), QString::fromStdString(e.actor()));
            QCOMPARE(r.value(QLatin1String("result")).toString(), QString::fromStdString(e.result()));
            QCOMPARE(r.value(QLatin1String("time_ms")).toInteger(), e.time_ms());
            if (previousSeq) {
                QCOMPARE(seq, previousSeq + 1);  // nothing left out
                QCOMPARE(r.value(QLatin1String("prev_hash")).toString(), previousHash);
            }
            previousSeq = seq;
            previousHash = r.value(QLatin1String("hash")).toString();
            actions << r.value(QLatin1String("action")).toString();
        }
        // Everything the engine had up to the export (which records itself) is in the file.
        int upToExport = 0;
        for (auto it = engine.begin(); it != engine.end(); ++it) upToExport += it.key() <= previousSeq;
        QCOMPARE(int(exported.size()), upToExport);
        for (const char* a : {"user.create", "audit.export"})
            QVERIFY2(actions.contains(QLatin1String(a)), qPrintable(actions.join(QLatin1Char(','))));
    }

    void exportCsvHonoursTheFilter() {
        auto* classes = child<QComboBox>(page(), "auditClass");
        const int users = classes->findData(QStringLiteral("USER"));
        QVERIFY(users > 0);
        classes->setCurrentIndex(users);
        const QString path = m_console->dir.filePath(QStringLiteral("users.csv"));
        QVERIFY2(exportThroughDialog("exportCsv", path), qPrintable(w()->lastMessage()));
        QCOMPARE(w()->lastMessage(), QStringLiteral("Exported the audit records to %1").arg(path));

        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadOnly));
        const QList<QStringList> rows = parseCsv(QString::fromUtf8(f.readAll()));
        QVERIFY(rows.size() >= 2);
        const QStringList header = rows.first();
        const qsizetype seqCol = header.indexOf(QLatin1String("seq")),
                        classCol = header.indexOf(QLatin1String("action_class")),
                        hashCol = header.indexOf(QLatin1String("hash")),
                        actionCol = header.indexOf(QLatin1String("action")),
                        detailsCol = header.indexOf(QLatin1String("details"));
        QVERIFY2(seqCol >= 0 && classCol >= 0 && hashCol >= 0 && actionCol >= 0 && detailsCol >= 0,
                 qPrintable(header.join(QLatin1Char(','))));

        v1::AuditQuery query;
        query.set_action_class("USER");
        const auto engine = engineRecords(query);
        QList<qint64> seqs;
        for (int i = 1; i < rows.size(); ++i) {
            const QStringList& r = rows[i];
            QCOMPARE(r.size(), header.size());
            QCOMPARE(r[classCol], QStringLiteral("USER"));
            const qint64 seq = r[seqCol].toLongLong();
            QVERIFY2(engine.contains(seq), qPrintable(r.join(QLatin1Char(','))));
            QCOMPARE(r[hashCol], QString::fromStdString(engine[seq].hash()));
            QCOMPARE(r[actionCol], QString::fromStdString(engine[seq].action()));
            QVERIFY2(!QJsonDocument::fromJson(r[detailsCol].toUtf8()).isNull(),
                     qPrintable(r[detailsCol]));  // the JSON survived quoting
            seqs << seq;
        }
        QCOMPARE(seqs, engine.keys());  // exactly the engine's matching records, oldest first
        classes->setCurrentIndex(0);
    }

    // The engine's role and action-class codes read in the user's language (in Chinese: no Latin letters).
    void rolesAndClassesInChinese() {
        QVERIFY(m_console->language->set(QStringLiteral("zh_CN")));
        child<QPushButton>(page(), "search")->click();
        auto* view = child<QTableView>(page(), "auditRecords");
        QVERIFY(waitFor([&] { return view->model()->rowCount() >= 5; }, 10000));
        static const QRegularExpression latin(QStringLiteral("[A-Za-z]"));
        QSet<QString> seen;
        for (int r = 0; r < view->model()->rowCount(); ++r)
            for (int c : {int(app::AuditModel::Role), int(app::AuditModel::ActionClass)}) {
                const QString cell = view->model()->index(r, c).data().toString();
                QVERIFY2(!cell.contains(latin), qPrintable(QStringLiteral("row %1: '%2'").arg(r).arg(cell)));
                seen << cell;
            }
        QVERIFY2(seen.contains(QStringLiteral("管理员")) && seen.contains(QStringLiteral("用户")),
                 qPrintable(QStringList(seen.values()).join(QLatin1Char(','))));
        view->selectRow(0);
        QVERIFY(waitFor(
            [&] {
                return child<QPlainTextEdit>(page(), "auditDetails")->toPlainText().contains(QStringLiteral("管理员"));
            },
            5000));
        QVERIFY(m_console->language->set(QStringLiteral("en")));
    }

    void cleanupTestCase() { m_console.reset(); }
};

QTEST_MAIN(TstAuditPage)
#include "tst_audit_page.moc"
