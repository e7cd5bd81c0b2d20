// Every item model of the console under QAbstractItemModelTester while rows are set, appended,
// prepended, replaced, removed and edited; plus the chat text helpers (<think> split, exports).
#include <QAbstractItemModelTester>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QtTest>

#include "app/chat_transcript.h"
#include "app/models/alert_models.h"
#include "app/models/audit_model.h"
#include "app/models/conversations_model.h"
#include "app/models/engine_models.h"
#include "app/models/people_models.h"

using namespace enclave::app;
namespace v1 = enclave::v1;

class TstItemModels : public QObject {
    Q_OBJECT

    template <class Model, class Row>
    void exercise(Model& model, const QList<Row>& rows) {
        QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
        model.setRows(rows);
        QCOMPARE(model.rowCount(), rows.size());
        model.appendRows(rows);
        QCOMPARE(model.rowCount(), 2 * rows.size());
        model.prependRow(rows.first());
        model.replaceRow(0, rows.last());
        model.removeRowAt(1);
        QCOMPARE(model.rowCount(), 2 * rows.size());
        for (int c = 0; c < model.columnCount(); ++c)
            QVERIFY2(!model.headerData(c, Qt::Horizontal).toString().isEmpty(), "every column has a header");
        model.setRows({});
        QCOMPARE(model.rowCount(), 0);
    }

private slots:
    void modelFiles() {
        v1::ModelFile f;
        f.set_file("SmolLM2.gguf");
        f.set_size_bytes(100 << 20);
        f.set_architecture("llama");
        f.set_parameters(135'000'000);
        f.add_tensor_types("q4_1 x 84");
        f.set_estimated_memory_bytes(200 << 20);
        v1::ModelFile bad;
        bad.set_file("broken.gguf");
        bad.set_error("bad magic");
        ModelFilesModel m;
        exercise(m, QList<v1::ModelFile>{f, bad});
        m.setRows({f, bad});
        QCOMPARE(m.data(m.index(0, ModelFilesModel::Size)).toString(), QStringLiteral("100.0 MiB"));
        QCOMPARE(m.data(m.index(0, ModelFilesModel::Parameters)).toString(), QStringLiteral("135 M"));
        QVERIFY(m.data(m.index(1, ModelFilesModel::Status)).toString().contains(QStringLiteral("bad magic")));
        QCOMPARE(m.data(m.index(1, 0), Qt::UserRole).toString(), QStringLiteral("broken.gguf"));
    }
    void loadedModelsAndRoutes() {
        v1::ModelInfo a;
        a.set_id("smol");
        a.set_state("serving");
        a.set_running_requests(3);
        LoadedModelsModel m;
        exercise(m, QList<v1::ModelInfo>{a});
        m.setRows({a});
        QCOMPARE(m.data(m.index(0, LoadedModelsModel::Running)).toString(), QStringLiteral("3"));
        v1::Route r;
        r.set_name("chat");
        auto* t1 = r.add_targets();
        t1->set_model("a");
        t1->set_weight(90);
        auto* t2 = r.add_targets();
        t2->set_model("b");
        t2->set_weight(10);
        RoutesModel rm;
        exercise(rm, QList<v1::Route>{r});
        rm.setRows({r});
        QVERIFY(rm.data(rm.index(0, RoutesModel::Targets)).toString().contains(QStringLiteral("(10 %)")));
    }
    void conversations() {
        v1::ConversationSummary c;
        c.set_id(7);
        c.set_title("");
        c.set_messages(4);
        ConversationsModel m;
        exercise(m, QList<v1::ConversationSummary>{c});
        m.setRows({c});
        QCOMPARE(m.rowOf(7), 0);
        QCOMPARE(m.rowOf(8), -1);
        QCOMPARE(m.data(m.index(0, 0), Qt::UserRole).toLongLong(), 7);
    }
    void usersAndKeys() {
        v1::User u;
        u.set_id(1);
        u.set_name("ana");
        u.set_role(v1::ROLE_ANALYST);
        u.mutable_limits()->set_requests_per_minute(60);
        v1::User d = u;
        d.set_id(2);
        d.set_disabled(true);
        UsersModel m;
        exercise(m, QList<v1::User>{u, d});
        m.setRows({u, d});
        QCOMPARE(m.data(m.index(0, UsersModel::Role)).toString(), QStringLiteral("analyst"));
        QCOMPARE(m.data(m.index(1, UsersModel::Status)).toString(), QStringLiteral("disabled"));
        QVERIFY(m.data(m.index(0, UsersModel::Limits)).toString().startsWith(QStringLiteral("60 req/min")));
        v1::ApiKey k;
        k.set_id(5);
        k.set_name("ci");
        k.set_prefix("enk_ab");
        k.set_revoked(true);
        KeysModel km;
        exercise(km, QList<v1::ApiKey>{k});
        km.setRows({k});
        QCOMPARE(km.data(km.index(0, KeysModel::Status)).toString(), QStringLiteral("revoked"));
        QCOMPARE(km.data(km.index(0, KeysModel::Models)).toString(), QStringLiteral("all"));
    }
    void audit() {
        v1::AuditRecord r;
        r.set_seq(10);
        r.set_actor("root");
        r.set_result("denied");
        AuditModel m;
        exercise(m, QList<v1::AuditRecord>{r});
        QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
        v1::AuditPage page;
        *page.add_records() = r;
        page.set_next_before_seq(10);
        page.set_total_matching(2);
        m.applyPage(page, false);
        QCOMPARE(m.rowCount(), 1);
        QCOMPARE(m.nextBeforeSeq(), 10);
        page.set_next_before_seq(0);
        m.applyPage(page, true);
        QCOMPARE(m.rowCount(), 2);
        QCOMPARE(m.nextBeforeSeq(), 0);
        QCOMPARE(m.totalMatching(), 2);
        QCOMPARE(m.data(m.index(0, AuditModel::Result)).toString(), QStringLiteral("denied"));
    }
    void alertRulesEditable() {
        v1::AlertRule r;
        r.set_id("gpu-temp");
        r.set_metric("gpu_temperature_celsius");
        r.set_comparison(">");
        r.set_threshold(85);
        r.set_enabled(true);
        AlertRulesModel m;
        exercise(m, QList<v1::AlertRule>{r});
        m.setRows({r});
        QAbstractItemModelTester tester(&m, QAbstractItemModelTester::FailureReportingMode::QtTest);
        QVERIFY(m.setData(m.index(0, AlertRulesModel::Threshold), 90.0));
        QVERIFY(!m.setData(m.index(0, AlertRulesModel::Comparison), QStringLiteral("=~")));
        QVERIFY(m.setData(m.index(0, AlertRulesModel::Enabled), Qt::Unchecked, Qt::CheckStateRole));
        QCOMPARE(m.rowAt(0).threshold(), 90.0);
        QVERIFY(!m.rowAt(0).enabled());
        QCOMPARE(m.dirtyRows(), QList<int>{0});
        v1::AlertEvent e;
        e.set_id(1);
        e.set_state("firing");
        e.set_severity("critical");
        AlertEventsModel em;
        exercise(em, QList<v1::AlertEvent>{e});
        em.setRows({e});
        QCOMPARE(em.data(em.index(0, AlertEventsModel::State)).toString(), QStringLiteral("firing"));
    }
    void thinkSplit() {
        auto s = splitThink(QStringLiteral("<think>step 1\nstep 2</think>\n\nThe answer."));
        QCOMPARE(s.reasoning, QStringLiteral("step 1\nstep 2"));
        QCOMPARE(s.answer, QStringLiteral("The answer."));
        QVERIFY(!s.reasoningOpen);
        s = splitThink(QStringLiteral("<think>still going"));
        QVERIFY(s.reasoningOpen);
        QCOMPARE(s.reasoning, QStringLiteral("still going"));
        QVERIFY(s.answer.isEmpty());
        s = splitThink(QStringLiteral("plain"));
        QCOMPARE(s.answer, QStringLiteral("plain"));
        QVERIFY(s.reasoning.isEmpty());
    }
    void exports() {
        const QList<ChatTurn> turns{{QStringLiteral("user"), QStringLiteral("Hi"), 0, {}, 0},
                                    {QStringLiteral("assistant"), QStringLiteral("<think>hmm</think>Hello!"), 3, QStringLiteral("eos"), 0}};
        const QString md = toMarkdown(QStringLiteral("T"), QStringLiteral("smol"), turns);
        QVERIFY(md.startsWith(QStringLiteral("# T\n")));
        QVERIFY(md.contains(QStringLiteral("> hmm")));
        QVERIFY(md.contains(QStringLiteral("Hello!")));
        const QJsonObject o = QJsonDocument::fromJson(toJson(QStringLiteral("T"), QStringLiteral("smol"), turns)).object();
        QCOMPARE(o.value("messages").toArray().size(), 2);
        QCOMPARE(o.value("messages").toArray().at(1).toObject().value("reasoning").toString(), QStringLiteral("hmm"));
        QCOMPARE(o.value("messages").toArray().at(1).toObject().value("content").toString(), QStringLiteral("Hello!"));
    }
};

QTEST_GUILESS_MAIN(TstItemModels)
#include "tst_item_models.moc"
