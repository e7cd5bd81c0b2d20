// The Dashboard's alerts against a real engine, and its GPU charts with GPU telemetry fed in.
//
// Alert banner: a rule made through the Alerts page's "New rule" dialog that the idle engine already
// breaks (its resident memory above 1 byte, for 0 s) fires at the engine's next sample; the banner names
// it, as does the engine's own list of firing alerts and the alert history. Deleting the rule through the
// Alerts page takes the banner away again (the engine records no "resolved" event for a deleted rule: the
// page re-reads the firing set).
//
// GPU charts (WIDGET-LEVEL: this machine has no GPU, so the samples are made up and fed to a
// DashboardPage connected to no engine): two GPUs' temperature, memory, utilisation and power draw as
// series with data, the default alert thresholds are drawn as dashed lines at their values (found as red
// pixels on the rendered chart), and in Chinese no English is left. Screenshots of it go to
// <build>/screenshots/widget_dashboard_gpu_fed_<lang>.png.
#include <qcustomplot.h>
#include <QDoubleSpinBox>
#include <QSpinBox>

#include "console_fixture.h"
#include "ui/pages/alerts_page.h"
#include "ui/pages/dashboard_page.h"
#include "ui/widgets/chart_panel.h"

using namespace enclave;
using app::Session;
using test::child;
using test::waitFor;

namespace {
const QString kRule = QStringLiteral("Engine memory in use");
constexpr double kGiB = 1024.0 * 1024 * 1024;

// Pixels of the rendered plot close to `color` in the row of value `y` (or anywhere when y is NaN).
int pixelsNear(QCustomPlot* plot, const QColor& color, double y = qQNaN()) {
    plot->replot();
    const QImage img = plot->toPixmap(plot->width(), plot->height(), 1.0).toImage();
    img.save(QStringLiteral(ENCLAVE_SCREENSHOT_DIR "/widget_chart_checked.png"));  // the last chart checked, to look at
    const QRect area = plot->axisRect()->rect();
    // Thin lines are antialiased, so a pixel is lighter than the pen: compare the colour's direction (its
    // channels' differences), not its brightness.
    const auto near = [&](QRgb p) {
        const int dr = qRed(p) - color.red(), dg = qGreen(p) - color.green(), db = qBlue(p) - color.blue();
        const bool tinted = qAbs(qRed(p) - qGreen(p)) + qAbs(qGreen(p) - qBlue(p)) > 40;  // not grey or white
        return tinted && qAbs(dr - dg) < 45 && qAbs(dg - db) < 45 && qAbs(dr - db) < 45;
    };
    int n = 0;
    if (!std::isnan(y)) {
        const int row = int(plot->yAxis->coordToPixel(y));
        for (int dy = -1; dy <= 1; ++dy)
            for (int x = area.left(); x <= area.right(); ++x)
                n += near(img.pixel(x, std::clamp(row + dy, 0, img.height() - 1)));
        return n;
    }
    for (int yy = area.top(); yy <= area.bottom(); ++yy)
        for (int x = area.left(); x <= area.right(); ++x) n += near(img.pixel(x, yy));
    return n;
}

// A GPU sample as NVML would give it on a two-GPU host, `i` seconds into a minute that ends now.
v1::TelemetrySample gpuSample(int i, qint64 nowMs) {
    v1::TelemetrySample s;
    s.set_time_ms(nowMs - (59 - i) * 1000);
    s.set_process_resident_bytes(3.5 * kGiB);
    s.set_process_cpu_seconds(10 + i * 0.8);
    s.set_host_memory_total_bytes(256 * kGiB);
    s.set_host_memory_available_bytes(180 * kGiB);
    s.set_host_cpu_utilization_ratio(0.35);
    for (uint32_t g = 0; g < 2; ++g) {
        auto* gpu = s.add_gpus();
        gpu->set_index(g);
        gpu->set_name("NVIDIA H200");
        gpu->set_temperature_celsius(55 + g * 8 + i * 0.3);
        gpu->set_memory_used_bytes((60 + g * 20 + i * 0.2) * kGiB);
        gpu->set_memory_total_bytes(141 * kGiB);
        gpu->set_utilization_ratio(0.4 + g * 0.3);
        gpu->set_power_watts(300 + g * 150 + i);
    }
    auto* v = s.mutable_serving();
    v->set_running(2);
    v->set_waiting(1);
    v->set_generated_tokens_per_second(800 + i * 5);
    v->set_ttft_p50_seconds(0.08);
    v->set_ttft_p95_seconds(0.2);
    v->set_latency_p50_seconds(2.1);
    v->set_latency_p95_seconds(4.0);
    v->set_success_ratio(1.0);
    return s;
}
}  // namespace

class TstDashboardPage : public QObject {
    Q_OBJECT
    std::unique_ptr<test::Console> m_console;

    ui::MainWindow* w() const { return m_console->window.get(); }
    ui::Page* alerts() const { return m_console->page(Session::Page::Alerts); }
    QLabel* banner() const { return child<QLabel>(m_console->page(Session::Page::Dashboard), "alertBanner"); }

    QStringList engineFiring() const {
        v1::ListAlertEventsRequest req;
        req.set_limit(10);
        QStringList out;
        if (const auto r = test::ask(*m_console->client, "Alerts.ListEvents", &v1::Alerts::Stub::ListEvents, req))
            for (const auto& e : r->firing()) out << QString::fromStdString(e.rule_name());
        return out;
    }

private slots:
    void initTestCase() {
        QVERIFY(QDir().mkpath(QStringLiteral(ENCLAVE_SCREENSHOT_DIR)));
        m_console = std::make_unique<test::Console>();
        QString why;
        QVERIFY2(m_console->deployAndBootstrap(&why), qPrintable(why));
    }

    void bannerShowsAFiringAlertAndGoesWithIt() {
        QVERIFY(w()->showPage(Session::Page::Dashboard));
        QVERIFY(!banner()->isVisible());
        QVERIFY(w()->showPage(Session::Page::Alerts));
        auto* rules = child<QTableView>(alerts(), "alertRules");
        QVERIFY(waitFor([&] { return rules->model()->rowCount() >= 5; }, 10000));
        test::whenDialogShows([](QDialog* dlg) {
            child<QLineEdit>(dlg, "ruleName")->setText(kRule);
            auto* metric = child<QComboBox>(dlg, "ruleMetric");
            QVERIFY(metric->findText(QStringLiteral("process_resident_bytes")) >= 0);  // offered from the engine's list
            metric->setCurrentIndex(metric->findText(QStringLiteral("process_resident_bytes")));
            auto* cmp = child<QComboBox>(dlg, "ruleComparison");
            cmp->setCurrentIndex(cmp->findText(QStringLiteral(">")));
            child<QDoubleSpinBox>(dlg, "ruleThreshold")->setValue(1);
            child<QSpinBox>(dlg, "ruleSeconds")->setValue(0);
        });
        child<QPushButton>(alerts(), "newRule")->click();
        QVERIFY2(waitFor([&] { return test::tableText(rules).contains(kRule); }, 10000),
                 qPrintable(w()->lastMessage()));

        // The engine fires it at its next sample; the dashboard's banner says so.
        QVERIFY(w()->showPage(Session::Page::Dashboard));
        QVERIFY2(waitFor([&] { return banner()->isVisible() && banner()->text().contains(kRule); }, 20000),
                 qPrintable(banner()->text() + QLatin1Char(' ') + engineFiring().join(QLatin1Char(','))));
        QVERIFY2(engineFiring().contains(kRule), qPrintable(engineFiring().join(QLatin1Char(','))));
        QVERIFY(banner()->text().contains(QStringLiteral("engine")));  // the subject
        auto* history = child<QTableView>(m_console->page(Session::Page::Dashboard), "alertHistory");
        QVERIFY(waitFor([&] { return test::tableText(history).contains(kRule); }, 5000));

        // Deleted through the Alerts page: the engine stops firing it and the banner goes.
        QVERIFY(w()->showPage(Session::Page::Alerts));
        QVERIFY(test::selectRow(rules, app::AlertRulesModel::Name, kRule));
        child<QPushButton>(alerts(), "deleteRule")->click();
        QVERIFY(waitFor([&] { return !test::tableText(rules).contains(kRule); }, 10000));
        QVERIFY(waitFor([&] { return !engineFiring().contains(kRule); }, 10000));
        QVERIFY(w()->showPage(Session::Page::Dashboard));
        QVERIFY2(waitFor([&] { return !banner()->isVisible(); }, 15000), qPrintable(banner()->text()));
    }

    // WIDGET-LEVEL: made-up GPU samples fed to a dashboard that is connected to no engine.
    void gpuChartsWithFedSamples() {
        app::EngineClient unconnected;
        ui::DashboardPage dash(unconnected);
        dash.resize(1300, 1500);
        dash.show();
        QCOMPARE(dash.charts().size(), 7);  // no GPU panels before a GPU shows up
        const qint64 now = QDateTime::currentMSecsSinceEpoch();
        for (int i = 0; i < 60; ++i) dash.addSample(gpuSample(i, now));
        const QList<ui::ChartPanel*> charts = dash.charts();
        QCOMPARE(charts.size(), 11);
        for (ui::ChartPanel* c : charts) QVERIFY(c->hasData());
        ui::ChartPanel *temp = charts[7], *vram = charts[8], *util = charts[9], *power = charts[10];
        QCOMPARE(temp->seriesCount(), 2);
        QCOMPARE(vram->seriesCount(), 4);  // used and total per GPU
        for (ui::ChartPanel* c : {temp, vram, util, power})
            for (int s = 0; s < c->seriesCount(); ++s) QCOMPARE(c->plot()->graph(s)->data()->size(), 60);
        QCOMPARE(vram->plot()->graph(1)->data()->at(0)->value, 141.0);

        // The thresholds: GPU temperature 85 °C, GPU memory 90 % of GPU 0's total.
        QCOMPARE(temp->thresholds(), QList<double>{85.0});
        QCOMPARE(vram->thresholds().size(), 1);
        QVERIFY(qAbs(vram->thresholds().first() - 0.9 * 141) < 1e-6);
        for (ui::ChartPanel* c : charts) c->replot();  // the time window and value range as the page's timer sets them
        const QColor red(0xd9, 0x3b, 0x3b);
        for (auto [panel, value] : {std::pair{temp, 85.0}, std::pair{vram, 0.9 * 141}}) {
            const int width = panel->plot()->axisRect()->width();
            const int onLine = pixelsNear(panel->plot(), red, value);
            QVERIFY2(onLine > width / 3, qPrintable(QStringLiteral("threshold %1: %2 red pixels on its row, %3 wide")
                                                        .arg(value)
                                                        .arg(onLine)
                                                        .arg(width)));
        }
        // The series are drawn: each GPU's colour on the temperature chart.
        QVERIFY(pixelsNear(temp->plot(), QColor(0x1f, 0x77, 0xb4)) > 100);
        QVERIFY(pixelsNear(temp->plot(), QColor(0xff, 0x7f, 0x0e)) > 100);

        for (const QString& lang : {QStringLiteral("en"), QStringLiteral("zh_CN")}) {
            QVERIFY(m_console->language->set(lang));
            QTest::qWait(1200);  // a replot tick
            const QString file = QStringLiteral(ENCLAVE_SCREENSHOT_DIR "/widget_dashboard_gpu_fed_%1.png").arg(lang);
            QVERIFY2(dash.grab().save(file), qPrintable(file));
            if (lang == QLatin1String("zh_CN")) {
                const QStringList left = test::englishLeft(&dash);
                QVERIFY2(left.isEmpty(), qPrintable(left.join(QLatin1Char('\n'))));
            }
        }
        QVERIFY(m_console->language->set(QStringLiteral("en")));
    }

    void cleanupTestCase() { m_console.reset(); }
};

QTEST_MAIN(TstDashboardPage)
#include "tst_dashboard_page.moc"
