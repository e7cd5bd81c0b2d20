#include "ui/pages/dashboard_page.h"

#include <QComboBox>
#include <QDateTime>
#include <QFileDialog>
#include <QGridLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QScrollArea>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>
#include <cmath>

#include "ui/widgets/chart_panel.h"

namespace enclave::ui {
namespace {
constexpr double kGiB = 1024.0 * 1024 * 1024;
const QColor kColors[] = {QColor(0x1f, 0x77, 0xb4), QColor(0xff, 0x7f, 0x0e), QColor(0x2c, 0xa0, 0x2c),
                          QColor(0x94, 0x67, 0xbd), QColor(0x8c, 0x56, 0x4b), QColor(0xe3, 0x77, 0xc2),
                          QColor(0x7f, 0x7f, 0x7f), QColor(0x17, 0xbe, 0xcf)};
QColor color(int i) { return kColors[i % 8]; }
}  // namespace

DashboardPage::DashboardPage(EngineClient& client, QWidget* parent) : Page(client, parent), m_events(this) {
    auto* outer = new QVBoxLayout(this);
    m_banner = new QLabel(this);
    m_banner->setWordWrap(true);
    m_banner->setObjectName(QStringLiteral("alertBanner"));
    m_banner->setVisible(false);
    m_banner->setProperty("enclaveEngineText", true);  // rule names and subjects come from the engine
    m_banner->setStyleSheet(QStringLiteral("QLabel{background:#c0392b;color:white;padding:6px;border-radius:3px;}"));
    outer->addWidget(m_banner);
    auto* bar = new QHBoxLayout;
    m_windowLabel = new QLabel(this);
    m_window = new QComboBox(this);
    m_window->addItems({QString(), QString(), QString()});
    bar->addWidget(m_windowLabel);
    bar->addWidget(m_window);
    bar->addSpacing(16);
    m_totals = new QLabel(this);
    bar->addWidget(m_totals, 1);
    outer->addLayout(bar);

    auto* scroll = new QScrollArea(this);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    auto* content = new QWidget(scroll);
    auto* grid = new QVBoxLayout(content);
    scroll->setWidget(content);
    outer->addWidget(scroll, 1);

    const auto panel = [this](QGridLayout* g, int row, int col) {
        auto* p = new ChartPanel(this);
        g->addWidget(p, row, col);
        connect(p, &ChartPanel::saveRequested, this, &DashboardPage::saveChart);
        return p;
    };
    m_gpuBox = new QGroupBox(content);
    m_gpuGrid = new QGridLayout(m_gpuBox);
    m_temp = panel(m_gpuGrid, 0, 0);
    m_vram = panel(m_gpuGrid, 0, 1);
    m_util = panel(m_gpuGrid, 1, 0);
    m_power = panel(m_gpuGrid, 1, 1);
    m_gpuBox->setVisible(false);  // until a sample shows GPUs
    grid->addWidget(m_gpuBox);

    m_servingBox = new QGroupBox(content);
    auto* sg = new QGridLayout(m_servingBox);
    m_tokens = panel(sg, 0, 0);
    m_queue = panel(sg, 0, 1);
    m_latency = panel(sg, 1, 0);
    m_success = panel(sg, 1, 1);
    grid->addWidget(m_servingBox);

    m_hostBox = new QGroupBox(content);
    auto* hg = new QGridLayout(m_hostBox);
    m_cpu = panel(hg, 0, 0);
    m_ram = panel(hg, 0, 1);
    m_rss = panel(hg, 1, 0);
    grid->addWidget(m_hostBox);

    m_alertBox = new QGroupBox(content);
    auto* ag = new QVBoxLayout(m_alertBox);
    m_alertView = new QTableView(m_alertBox);
    m_alertView->setModel(&m_events);
    m_alertView->horizontalHeader()->setStretchLastSection(true);
    m_alertView->verticalHeader()->hide();
    m_alertView->setMinimumHeight(120);
    m_alertView->setObjectName(QStringLiteral("alertHistory"));
    ag->addWidget(m_alertView);
    grid->addWidget(m_alertBox);

    m_tokens->addSeries(color(0));
    m_queue->addSeries(color(0));
    m_queue->addSeries(color(1));
    for (int i = 0; i < 4; ++i) m_latency->addSeries(color(i));
    m_success->addSeries(color(2));
    m_success->setFixedRange(0.9, 1.005);
    m_cpu->addSeries(color(0));
    m_cpu->addSeries(color(1));
    m_cpu->setFixedRange(0, 100);
    m_ram->addSeries(color(0));
    m_ram->addSeries(color(7));
    m_rss->addSeries(color(3));
    m_util->setFixedRange(0, 100);

    m_metricsTimer = new QTimer(this);
    m_metricsTimer->setInterval(5000);
    connect(m_metricsTimer, &QTimer::timeout, this, [this] {
        // The firing set again from the engine: WatchEvents reports firing and resolved, but a rule that
        // is deleted or edited while it fires ends without a "resolved" event, and the banner must not
        // keep showing it.
        if (m_ticks++ > 0) loadAlerts(true);
        m_client.call("Telemetry.Metrics", &v1::Telemetry::Stub::Metrics, v1::MetricsRequest{}, this,
                      [this](const v1::MetricsSnapshot& m) { addMetrics(m); },
                      [this](const EngineError& e) {
                          m_metricsError = e;
                          retranslate();
                      });
    });
    m_replotTimer = new QTimer(this);
    m_replotTimer->setInterval(1000);
    connect(m_replotTimer, &QTimer::timeout, this, &DashboardPage::replotAll);
    connect(m_window, &QComboBox::currentIndexChanged, this, [this] {
        for (ChartPanel* c : charts()) c->setWindow(windowSeconds());
        loadHistory();
    });
    retranslate();
}

DashboardPage::~DashboardPage() { closeLive(); }

QList<ChartPanel*> DashboardPage::charts() const {
    QList<ChartPanel*> all{m_tokens, m_queue, m_latency, m_success, m_cpu, m_ram, m_rss};
    if (m_gpus > 0) all << m_temp << m_vram << m_util << m_power;
    return all;
}

int DashboardPage::windowSeconds() const {
    static const int seconds[] = {300, 3600, 24 * 3600};
    return seconds[std::clamp(m_window->currentIndex(), 0, 2)];
}

void DashboardPage::retranslate() {
    m_windowLabel->setText(tr("Time window:"));
    m_window->setItemText(0, tr("5 minutes"));
    m_window->setItemText(1, tr("1 hour"));
    m_window->setItemText(2, tr("24 hours"));
    m_gpuBox->setTitle(tr("GPUs"));
    m_servingBox->setTitle(tr("Serving"));
    m_hostBox->setTitle(tr("Host and engine process"));
    m_alertBox->setTitle(tr("Alert history"));
    const QString waiting = tr("Waiting for data from the engine…");
    for (ChartPanel* c : {m_temp, m_vram, m_util, m_power, m_cpu, m_ram, m_rss}) c->setNoDataText(waiting);
    for (ChartPanel* c : {m_tokens, m_queue, m_latency, m_success}) c->setNoDataText(waiting);
    if (m_metricsError)
        m_totals->setText(tr("No serving totals: %1").arg(m_metricsError->summary()));
    else if (m_lastMetrics)
        m_totals->setText(tr("Since the engine started: %1 requests, %2 failed, %3 refused; %4 prompt and %5 generated tokens")
                              .arg(m_lastMetrics->requests_total(), 0, 'f', 0)
                              .arg(m_lastMetrics->requests_failed(), 0, 'f', 0)
                              .arg(m_lastMetrics->requests_rejected(), 0, 'f', 0)
                              .arg(m_lastMetrics->prompt_tokens_total(), 0, 'f', 0)
                              .arg(m_lastMetrics->generated_tokens_total(), 0, 'f', 0));
    else
        m_totals->clear();

    m_temp->setTitle(tr("GPU temperature"));
    m_temp->setUnit(tr("°C"));
    m_vram->setTitle(tr("GPU memory used and total"));
    m_vram->setUnit(tr("GiB"));
    m_util->setTitle(tr("GPU utilisation"));
    m_util->setUnit(tr("%"));
    m_power->setTitle(tr("GPU power"));
    m_power->setUnit(tr("W"));
    for (uint32_t g = 0; g < m_gpus; ++g) {
        m_temp->setSeriesName(int(g), tr("GPU %1").arg(g));
        m_vram->setSeriesName(int(2 * g), tr("GPU %1 used").arg(g));
        m_vram->setSeriesName(int(2 * g + 1), tr("GPU %1 total").arg(g));
        m_util->setSeriesName(int(g), tr("GPU %1").arg(g));
        m_power->setSeriesName(int(g), tr("GPU %1").arg(g));
    }
    const QString source = thresholdSource();
    m_temp->setThreshold(0, m_tempThreshold, tr("%1: %2 °C").arg(source).arg(m_tempThreshold));
    updateVramThreshold();

    m_tokens->setTitle(tr("Generated tokens per second"));
    m_tokens->setUnit(tr("tokens/s"));
    m_tokens->setSeriesName(0, tr("tokens/s"));
    m_queue->setTitle(tr("Requests running and waiting"));
    m_queue->setUnit(tr("requests"));
    m_queue->setSeriesName(0, tr("running"));
    m_queue->setSeriesName(1, tr("waiting"));
    m_latency->setTitle(tr("Time to first token and latency"));
    m_latency->setUnit(tr("seconds"));
    m_latency->setSeriesName(0, tr("first token p50"));
    m_latency->setSeriesName(1, tr("first token p95"));
    m_latency->setSeriesName(2, tr("latency p50"));
    m_latency->setSeriesName(3, tr("latency p95"));
    m_success->setTitle(tr("Success ratio (5 minutes)"));
    m_success->setUnit(tr("ratio"));
    m_success->setSeriesName(0, tr("success ratio"));
    m_success->setThreshold(0, m_successThreshold, tr("%1: %2").arg(source).arg(m_successThreshold));
    // Further rules the engine has on what these charts show (NaN: no such enabled rule).
    m_queue->setThreshold(0, m_waitingThreshold, tr("%1: %2 waiting").arg(source).arg(m_waitingThreshold));
    m_latency->setThreshold(0, m_ttftThreshold, tr("%1: first token p95 %2 s").arg(source).arg(m_ttftThreshold));
    m_latency->setThreshold(1, m_latencyThreshold, tr("%1: latency p95 %2 s").arg(source).arg(m_latencyThreshold));
    m_util->setThreshold(0, m_utilThreshold * 100, tr("%1: %2 %").arg(source).arg(m_utilThreshold * 100));
    m_power->setThreshold(0, m_powerThreshold, tr("%1: %2 W").arg(source).arg(m_powerThreshold));

    m_cpu->setTitle(tr("CPU use"));
    m_cpu->setUnit(tr("%"));
    m_cpu->setSeriesName(0, tr("engine (% of all cores)"));
    m_cpu->setSeriesName(1, tr("host"));
    m_ram->setTitle(tr("Host memory"));
    m_ram->setUnit(tr("GiB"));
    m_ram->setSeriesName(0, tr("used"));
    m_ram->setSeriesName(1, tr("total"));
    m_rss->setTitle(tr("Engine memory (resident)"));
    m_rss->setUnit(tr("GiB"));
    m_rss->setSeriesName(0, tr("engine"));
    updateBanner();
    replotAll();
}

void DashboardPage::showEvent(QShowEvent* event) {
    Page::showEvent(event);
    m_replotTimer->start();
}

void DashboardPage::hideEvent(QHideEvent* event) {
    Page::hideEvent(event);
    m_replotTimer->stop();
}

void DashboardPage::refresh() {
    m_ticks = 0;
    loadThresholds();
    loadHistory();
    loadAlerts();
    m_metricsTimer->setInterval(5000);
    m_metricsTimer->start();
    QMetaObject::invokeMethod(m_metricsTimer, "timeout");  // the first snapshot now
}

void DashboardPage::setConnected(bool connected) {
    if (!connected) {
        closeLive();
        m_metricsTimer->stop();
        return;
    }
    refresh();
}

void DashboardPage::closeLive() {
    if (m_live) m_live->cancel();
    if (m_watch) m_watch->cancel();
    m_live.reset();
    m_watch.reset();
}

void DashboardPage::loadHistory() {
    closeLive();
    const quint64 generation = ++m_historyGeneration;
    v1::HistoryRequest req;
    req.set_since_ms(QDateTime::currentMSecsSinceEpoch() - qint64(windowSeconds()) * 1000);
    req.set_max_samples(900);
    m_client.call(
        "Telemetry.History", &v1::Telemetry::Stub::History, req, this,
        [this, generation](const v1::HistoryReply& reply) {
            if (generation != m_historyGeneration) return;  // the window changed meanwhile
            for (ChartPanel* c : charts()) c->clear();
            m_lastCpuS = -1;
            for (const auto& s : reply.samples()) addSample(s);
            replotAll();
            openLive();
        },
        failer());
}

void DashboardPage::openLive() {
    m_live = m_client.stream(
        "Telemetry.Live", &v1::Telemetry::Stub::Live, v1::LiveRequest{}, this,
        [this](const v1::TelemetrySample& s) { addSample(s); },
        [this](const EngineError* e) {
            if (e) fail(*e);
        });
    m_watch = m_client.stream(
        "Alerts.WatchEvents", &v1::Alerts::Stub::WatchEvents, v1::WatchAlertEventsRequest{}, this,
        [this](const v1::AlertEvent& e) {
            m_events.prependRow(e);
            QList<v1::AlertEvent> still;
            for (const auto& f : std::as_const(m_firing))
                if (f.rule_id() != e.rule_id() || f.subject() != e.subject()) still.append(f);
            if (e.state() == "firing") still.append(e);
            m_firing = still;
            updateBanner();
        },
        [this](const EngineError* e) {
            if (e && !e->isUnimplemented()) fail(*e);  // the history request already said it
        });
}

void DashboardPage::ensureGpuSeries(uint32_t count) {
    if (count <= m_gpus) return;
    for (uint32_t g = m_gpus; g < count; ++g) {
        m_temp->addSeries(color(int(g)));
        m_vram->addSeries(color(int(g)));
        QColor total = color(int(g));
        total.setAlpha(110);
        m_vram->addSeries(total);
        m_util->addSeries(color(int(g)));
        m_power->addSeries(color(int(g)));
    }
    m_gpus = count;
    m_gpuBox->setVisible(true);
    for (ChartPanel* c : {m_temp, m_vram, m_util, m_power}) c->setWindow(windowSeconds());
    retranslate();
}

void DashboardPage::addSample(const v1::TelemetrySample& s) {
    ++m_samples;
    const double t = s.time_ms() / 1000.0;
    uint32_t count = 0;
    for (const auto& g : s.gpus()) count = std::max(count, g.index() + 1);
    ensureGpuSeries(count);
    for (const auto& g : s.gpus()) {
        const int i = int(g.index());
        if (g.has_temperature_celsius()) m_temp->append(i, t, g.temperature_celsius());
        if (g.has_memory_used_bytes()) m_vram->append(2 * i, t, g.memory_used_bytes() / kGiB);
        if (g.has_memory_total_bytes()) m_vram->append(2 * i + 1, t, g.memory_total_bytes() / kGiB);
        if (g.has_utilization_ratio()) m_util->append(i, t, g.utilization_ratio() * 100);
        if (g.has_power_watts()) m_power->append(i, t, g.power_watts());
        if (g.has_memory_total_bytes() && i == 0 && g.memory_total_bytes() / kGiB != m_gpu0TotalGiB) {
            m_gpu0TotalGiB = g.memory_total_bytes() / kGiB;
            updateVramThreshold();
        }
    }
    if (m_lastCpuS >= 0 && t > m_lastCpuT)
        m_cpu->append(0, t, 100.0 * (s.process_cpu_seconds() - m_lastCpuS) / (t - m_lastCpuT) / m_cores);
    if (s.has_host_cpu_utilization_ratio()) m_cpu->append(1, t, s.host_cpu_utilization_ratio() * 100);
    if (s.has_serving()) {
        const auto& v = s.serving();
        m_tokens->append(0, t, v.generated_tokens_per_second());
        m_queue->append(0, t, v.running());
        m_queue->append(1, t, v.waiting());
        m_latency->append(0, t, v.ttft_p50_seconds());
        m_latency->append(1, t, v.ttft_p95_seconds());
        m_latency->append(2, t, v.latency_p50_seconds());
        m_latency->append(3, t, v.latency_p95_seconds());
        m_success->append(0, t, v.success_ratio());
    }
    m_lastCpuT = t;
    m_lastCpuS = s.process_cpu_seconds();
    if (s.host_memory_total_bytes() > 0) {
        m_ram->append(0, t, (s.host_memory_total_bytes() - s.host_memory_available_bytes()) / kGiB);
        m_ram->append(1, t, s.host_memory_total_bytes() / kGiB);
    }
    m_rss->append(0, t, s.process_resident_bytes() / kGiB);
}

QString DashboardPage::thresholdSource() const {
    return m_thresholdsFromEngine ? tr("alert rule") : tr("default alert");
}

void DashboardPage::updateVramThreshold() {
    // A share of GPU 0's memory, drawn once its total is known; set here and in retranslate(), so the
    // label follows the language like the chart's other texts.
    if (std::isnan(m_gpu0TotalGiB)) return;
    m_vram->setThreshold(0, m_gpu0TotalGiB * m_vramThreshold,
                         tr("%1: %2 % of GPU 0's memory").arg(thresholdSource()).arg(m_vramThreshold * 100, 0, 'f', 0));
}

void DashboardPage::addMetrics(const v1::MetricsSnapshot& m) {
    ++m_metrics;
    m_metricsError.reset();
    m_lastMetrics = m;
    retranslate();
}

void DashboardPage::loadThresholds() {
    m_client.call(
        "Alerts.ListRules", &v1::Alerts::Stub::ListRules, v1::ListAlertRulesRequest{}, this,
        [this](const v1::ListAlertRulesReply& r) {
            m_waitingThreshold = m_ttftThreshold = m_latencyThreshold = m_utilThreshold = m_powerThreshold = qQNaN();
            for (const auto& rule : r.rules()) {
                if (!rule.enabled()) continue;
                if (rule.metric() == "waiting_requests") m_waitingThreshold = rule.threshold();
                if (rule.metric() == "ttft_p95_seconds") m_ttftThreshold = rule.threshold();
                if (rule.metric() == "latency_p95_seconds") m_latencyThreshold = rule.threshold();
                if (rule.metric() == "gpu_utilization_ratio") m_utilThreshold = rule.threshold();
                if (rule.metric() == "gpu_power_watts") m_powerThreshold = rule.threshold();
                if (rule.metric() == "gpu_temperature_celsius") m_tempThreshold = rule.threshold();
                if (rule.metric() == "gpu_memory_used_ratio") m_vramThreshold = rule.threshold();
                if (rule.metric() == "success_ratio") m_successThreshold = rule.threshold();
            }
            m_thresholdsFromEngine = true;
            retranslate();
        },
        [](const EngineError&) {});  // keeps the deployment guide's defaults; the Alerts page reports errors
}

void DashboardPage::loadAlerts(bool firingOnly) {
    v1::ListAlertEventsRequest req;
    req.set_since_ms(QDateTime::currentMSecsSinceEpoch() - 24LL * 3600 * 1000);
    req.set_limit(firingOnly ? 1 : 200);
    m_client.call(
        "Alerts.ListEvents", &v1::Alerts::Stub::ListEvents, req, this,
        [this, firingOnly](const v1::ListAlertEventsReply& r) {
            m_alertsError.reset();
            if (!firingOnly) m_events.setRows(app::toList(r.events()));  // the history keeps its selection
            m_firing = app::toList(r.firing());
            updateBanner();
        },
        [this](const EngineError& e) {
            m_alertsError = e;
            updateBanner();
        });
}

void DashboardPage::updateBanner() {
    if (!m_firing.isEmpty()) {
        QStringList parts;
        for (const auto& f : std::as_const(m_firing))
            parts << tr("%1 (%2, %3, value %4)")
                         .arg(app::ruleName(f.rule_name()), app::severityName(f.severity()),
                              QString::fromStdString(f.subject()))
                         .arg(f.value(), 0, 'g', 4);
        m_banner->setText(tr("Alerts firing: %1").arg(parts.join(QStringLiteral("; "))));
        m_banner->setStyleSheet(QStringLiteral("QLabel{background:#c0392b;color:white;padding:6px;border-radius:3px;}"));
        m_banner->setVisible(true);
    } else if (m_alertsError) {
        m_banner->setText(tr("Alert state unknown: %1").arg(m_alertsError->text()));
        m_banner->setStyleSheet(QStringLiteral("QLabel{background:#7f6a00;color:white;padding:6px;border-radius:3px;}"));
        m_banner->setVisible(true);
    } else {
        m_banner->setVisible(false);
    }
}

void DashboardPage::replotAll() {
    for (ChartPanel* c : {m_temp, m_vram, m_util, m_power, m_tokens, m_queue, m_latency, m_success, m_cpu, m_ram, m_rss})
        c->replot();
}

void DashboardPage::saveChart(ChartPanel* panel) {
    const QString path = QFileDialog::getSaveFileName(this, tr("Save chart"), QStringLiteral("chart.png"), tr("PNG images (*.png)"));
    if (path.isEmpty()) return;
    if (panel->savePng(path))
        say([=, this] { return tr("Saved the chart to %1").arg(path); }, false);
    else
        say([=, this] { return tr("Could not write %1").arg(path); }, true);
}

}  // namespace enclave::ui
