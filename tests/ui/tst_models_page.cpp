// The Models page through its widgets against a real engine: a second model loaded under its own name, a
// route with canary weights (set through the "Set route" dialogs, refused when a weight is not a number),
// a hot swap of a served name onto another file, deleting the route and unloading a model. After each
// step the test asks the engine itself (Models.ListModels / ListRoutes) what it now serves.
//
// The model directory holds the default model twice (two links to the same file, under two names), so a
// swap has another file to move to without a second download.
#include <QInputDialog>
#include <QProgressBar>

#include "console_fixture.h"
#include "ui/pages/models_page.h"

using namespace enclave;
using app::Session;
using test::child;
using test::waitFor;

namespace {
const QString kCanaryFile = QStringLiteral("smol-canary.gguf");
}  // namespace

class TstModelsPage : public QObject {
    Q_OBJECT
    std::unique_ptr<test::Console> m_console;
    QString m_defaultFile;  // SmolLM2-135M-Instruct.Q4_1.gguf
    QString m_defaultName;  // its served name: the file name without .gguf

    ui::Page* page() const { return m_console->page(Session::Page::Models); }
    QTableView* view(const char* name) const { return child<QTableView>(page(), name); }
    ui::MainWindow* w() const { return m_console->window.get(); }

    // What the engine serves now: served name -> file.
    QMap<QString, QString> served() const {
        QMap<QString, QString> out;
        const auto r =
            test::ask(*m_console->client, "Models.ListModels", &v1::Models::Stub::ListModels, v1::ListModelsRequest{});
        if (r)
            for (const auto& m : r->models())
                out.insert(QString::fromStdString(m.id()), QString::fromStdString(m.file()));
        return out;
    }
    // The engine's routes: name -> "model=weight,model=weight".
    QMap<QString, QString> routes() const {
        QMap<QString, QString> out;
        const auto r =
            test::ask(*m_console->client, "Models.ListRoutes", &v1::Models::Stub::ListRoutes, v1::ListRoutesRequest{});
        if (r)
            for (const auto& route : r->routes()) {
                QStringList targets;
                for (const auto& t : route.targets())
                    targets << QStringLiteral("%1=%2").arg(QString::fromStdString(t.model())).arg(t.weight());
                out.insert(QString::fromStdString(route.name()), targets.join(QLatin1Char(',')));
            }
        return out;
    }
    static QString dump(const QMap<QString, QString>& m) {
        QStringList parts;
        for (auto it = m.begin(); it != m.end(); ++it) parts << it.key() + QStringLiteral(": ") + it.value();
        return parts.join(QStringLiteral("; "));
    }

private slots:
    void initTestCase() {
        m_console = std::make_unique<test::Console>();
        m_defaultFile = QFileInfo(m_console->model).fileName();
        m_defaultName = QFileInfo(m_console->model).completeBaseName();
        const QString modelDir = m_console->dir.filePath(QStringLiteral("models"));
        QVERIFY(QDir().mkpath(modelDir));
        QVERIFY(
            QFile::link(QFileInfo(m_console->model).absoluteFilePath(), modelDir + QLatin1Char('/') + m_defaultFile));
        QVERIFY(QFile::link(QFileInfo(m_console->model).absoluteFilePath(), modelDir + QLatin1Char('/') + kCanaryFile));
        app::ConnectionProfile profile = m_console->localProfile();
        profile.modelDir = modelDir;
        QString why;
        QVERIFY2(m_console->deployAndBootstrap(&why, profile), qPrintable(why));
        QVERIFY(w()->showPage(Session::Page::Models));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Models, "modelFiles") == 2; }, 15000));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Models, "servedModels") == 1; }, 15000));
    }

    void loadUnderASecondName() {
        QVERIFY(test::selectRow(view("modelFiles"), 0, kCanaryFile));
        test::whenDialogShows(
            [](QDialog* dlg) { qobject_cast<QInputDialog*>(dlg)->setTextValue(QStringLiteral("canary")); });
        child<QPushButton>(page(), "loadModel")->click();
        QVERIFY2(waitFor([&] { return m_console->rows(Session::Page::Models, "servedModels") == 2; }, 60000),
                 qPrintable(w()->lastMessage()));
        const auto now = served();
        QVERIFY2(now.value(QStringLiteral("canary")) == kCanaryFile && now.value(m_defaultName) == m_defaultFile,
                 qPrintable(dump(now)));
        QCOMPARE(child<QProgressBar>(page(), "loadProgress")->value(), 1000);
    }

    void routeWithCanaryWeights() {
        // A weight that is not a number: the page says so and sends nothing.
        test::whenDialogsShow(
            {[](QDialog* dlg) { qobject_cast<QInputDialog*>(dlg)->setTextValue(QStringLiteral("assistant")); },
             [](QDialog* dlg) { qobject_cast<QInputDialog*>(dlg)->setTextValue(QStringLiteral("canary=ten")); }});
        child<QPushButton>(page(), "setRoute")->click();
        QVERIFY2(w()->lastMessageIsError() && w()->lastMessage().contains(QStringLiteral("canary=ten")),
                 qPrintable(w()->lastMessage()));
        QVERIFY2(routes().isEmpty(), qPrintable(dump(routes())));

        // 90 % to the served model, 10 % to the canary.
        const QString spec = QStringLiteral("%1=90, canary=10").arg(m_defaultName);
        test::whenDialogsShow(
            {[](QDialog* dlg) { qobject_cast<QInputDialog*>(dlg)->setTextValue(QStringLiteral("assistant")); },
             [spec](QDialog* dlg) { qobject_cast<QInputDialog*>(dlg)->setTextValue(spec); }});
        child<QPushButton>(page(), "setRoute")->click();
        QVERIFY2(waitFor([&] { return m_console->rows(Session::Page::Models, "routes") == 1; }, 15000),
                 qPrintable(w()->lastMessage()));
        const auto engineRoutes = routes();
        QCOMPARE(engineRoutes.value(QStringLiteral("assistant")), QStringLiteral("%1=90,canary=10").arg(m_defaultName));
        const QString shown = test::tableText(view("routes"));
        QVERIFY2(shown.contains(QStringLiteral("assistant")) && shown.contains(QStringLiteral("(90 %)")) &&
                     shown.contains(QStringLiteral("(10 %)")),
                 qPrintable(shown));
    }

    void hotSwapOntoAnotherFile() {
        QVERIFY(test::selectRow(view("modelFiles"), 0, kCanaryFile));
        const QString name = m_defaultName;
        QString offered;
        test::whenDialogShows([name, &offered](QDialog* dlg) {
            auto* input = qobject_cast<QInputDialog*>(dlg);
            offered = input->comboBoxItems().join(QLatin1Char(','));
            input->setTextValue(name);
        });
        child<QPushButton>(page(), "swapModel")->click();
        QVERIFY2(offered.contains(name) && offered.contains(QStringLiteral("canary")), qPrintable(offered));
        QVERIFY2(waitFor([&] { return served().value(name) == kCanaryFile; }, 60000),
                 qPrintable(dump(served()) + QLatin1Char(' ') + w()->lastMessage()));
        QVERIFY2(
            waitFor([&] { return child<QLabel>(page(), "loadStage")->text().contains(QStringLiteral("Done")); }, 10000),
            qPrintable(child<QLabel>(page(), "loadStage")->text()));
        QCOMPARE(child<QProgressBar>(page(), "loadProgress")->value(), 1000);
        // The page shows what the engine serves: the served name on the new file, still two models.
        QVERIFY(waitFor(
            [&] { return test::tableText(view("servedModels")).contains(name + QStringLiteral(" | ") + kCanaryFile); },
            10000));
        QCOMPARE(served().size(), 2);
    }

    void deleteRouteThenUnload() {
        QVERIFY(test::selectRow(view("routes"), 0, QStringLiteral("assistant")));
        child<QPushButton>(page(), "deleteRoute")->click();
        QVERIFY2(waitFor([&] { return routes().isEmpty(); }, 10000), qPrintable(dump(routes())));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Models, "routes") == 0; }, 10000));

        // Nothing selected: the page asks for a selection instead of doing nothing.
        view("servedModels")->clearSelection();
        child<QPushButton>(page(), "unloadModel")->click();
        QVERIFY2(w()->lastMessageIsError() && w()->lastMessage().startsWith(QStringLiteral("Select a served model")),
                 qPrintable(w()->lastMessage()));

        QVERIFY(test::selectRow(view("servedModels"), 0, QStringLiteral("canary")));
        child<QPushButton>(page(), "unloadModel")->click();
        QVERIFY2(waitFor([&] { return !served().contains(QStringLiteral("canary")); }, 30000),
                 qPrintable(dump(served())));
        QVERIFY(waitFor([&] { return m_console->rows(Session::Page::Models, "servedModels") == 1; }, 10000));
        QVERIFY2(w()->lastMessage() == QStringLiteral("Unloaded canary"), qPrintable(w()->lastMessage()));
        QVERIFY(served().contains(m_defaultName));
    }

    void cleanupTestCase() { m_console.reset(); }
};

QTEST_MAIN(TstModelsPage)
#include "tst_models_page.moc"
