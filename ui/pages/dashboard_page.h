// Dashboard: live charts of the engine's GPUs (or, without GPUs, its CPU, RAM and memory), its serving
// metrics and its alerts. History comes from Telemetry.History for the chosen window (5 min, 1 h, 24 h),
// then Telemetry.Live appends each new sample (each carries the serving metrics too); Telemetry.Metrics
// gives the totals line. Alert thresholds (Alerts.ListRules, else the engine's defaults) are drawn as
// lines; Alerts.ListEvents fills the alert history and Alerts.WatchEvents the banner of firing alerts.
#pragma once

#include <QHash>
#include <QThread>
#include <optional>

#include "app/models/alert_models.h"
#include "ui/page.h"

class QComboBox;
class QGridLayout;
class QGroupBox;
class QLabel;
class QTableView;
class QTimer;

namespace enclave::ui {

class ChartPanel;

class DashboardPage : public Page {
    Q_OBJECT
public:
    explicit DashboardPage(EngineClient& client, QWidget* parent = nullptr);
    ~DashboardPage() override;
    QString title() const override { return tr("Dashboard"); }
    void refresh() override;
    void setConnected(bool connected) override;
    QList<ChartPanel*> charts() const;
    int samplesSeen() const { return m_samples; }
    int metricsSeen() const { return m_metrics; }
    // One telemetry sample into the charts (History and Live call it; a test feeds GPU samples through it
    // on a machine without GPUs).
    void addSample(const v1::TelemetrySample& sample);

protected:
    void retranslate() override;
    void showEvent(QShowEvent* event) override;
    void hideEvent(QHideEvent* event) override;

private:
    void loadHistory();
    void openLive();
    void closeLive();
    void addMetrics(const v1::MetricsSnapshot& m);
    void ensureGpuSeries(uint32_t gpuCount);
    void loadThresholds();
    void loadAlerts(bool firingOnly = false);  // firingOnly: the banner, not the history
    void updateBanner();
    void updateVramThreshold();
    QString thresholdSource() const;  // "alert rule" or "default alert", translated
    void saveChart(ChartPanel* panel);
    void replotAll();
    int windowSeconds() const;

    QLabel* m_banner;
    QLabel* m_windowLabel;
    QLabel* m_totals;  // Telemetry.Metrics: counters since the engine started
    QComboBox* m_window;
    QGroupBox* m_gpuBox;
    QGroupBox* m_hostBox;
    QGroupBox* m_servingBox;
    QGroupBox* m_alertBox;
    QGridLayout* m_gpuGrid;
    ChartPanel* m_temp;
    ChartPanel* m_vram;
    ChartPanel* m_util;
    ChartPanel* m_power;
    ChartPanel* m_cpu;
    ChartPanel* m_ram;
    ChartPanel* m_rss;
    ChartPanel* m_tokens;
    ChartPanel* m_queue;
    ChartPanel* m_latency;
    ChartPanel* m_success;
    QTableView* m_alertView;
    app::AlertEventsModel m_events;
    QList<v1::AlertEvent> m_firing;
    QTimer* m_metricsTimer;
    QTimer* m_replotTimer;
    app::Stream m_live;
    app::Stream m_watch;
    uint32_t m_gpus = 0;
    double m_lastCpuT = 0, m_lastCpuS = -1;
    double m_tempThreshold = 85, m_vramThreshold = 0.9, m_successThreshold = 0.995;
    double m_waitingThreshold = qQNaN(), m_ttftThreshold = qQNaN(), m_latencyThreshold = qQNaN();
    double m_utilThreshold = qQNaN(), m_powerThreshold = qQNaN();
    double m_gpu0TotalGiB = qQNaN();  // from the last sample with GPU 0's total memory
    bool m_thresholdsFromEngine = false;
    // Kept as errors, not text: they are shown again in the current language after a switch.
    std::optional<EngineError> m_metricsError;
    std::optional<EngineError> m_alertsError;
    std::optional<v1::MetricsSnapshot> m_lastMetrics;
    // The engine's CPU seconds are over all its cores; this assumes its host has as many as the console's
    // (true for a local engine; for a remote one the chart is a rough share).
    double m_cores = std::max(1, QThread::idealThreadCount());
    int m_samples = 0;
    int m_metrics = 0;
    int m_ticks = 0;  // metrics timer ticks since refresh()
    quint64 m_historyGeneration = 0;
};

}  // namespace enclave::ui
