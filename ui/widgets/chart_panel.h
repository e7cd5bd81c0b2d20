// ChartPanel: one titled time-series chart (QCustomPlot) of the dashboard: several series over a sliding
// time window, optional horizontal threshold lines (alert rules), a "no data" note instead of an empty
// grid, and saving as PNG. Keys are Unix seconds. GUI thread only.
#pragma once

#include <QWidget>

class QCustomPlot;
class QCPItemText;
class QCPItemStraightLine;
class QLabel;
class QToolButton;

namespace enclave::ui {

class ChartPanel : public QWidget {
    Q_OBJECT
public:
    explicit ChartPanel(QWidget* parent = nullptr);

    void setTitle(const QString& title);
    void setUnit(const QString& unit);  // shown on the value axis
    int addSeries(const QColor& color);
    void setSeriesName(int series, const QString& name);
    void setThreshold(int line, double value, const QString& label);  // line 0, 1, ...; NaN hides it
    QList<double> thresholds() const;                                   // the lines shown now
    void setFixedRange(double min, double max);                         // else from 0 to the data's max
    void setNoDataText(const QString& text);
    void append(int series, double unixSeconds, double value);
    void clear();
    void setWindow(int seconds);  // the x range ends at now
    bool hasData() const;
    int seriesCount() const;
    // Saves the chart at its current size; false when the file cannot be written.
    bool savePng(const QString& path);
    QCustomPlot* plot() const { return m_plot; }

public slots:
    void replot();

signals:
    void saveRequested(enclave::ui::ChartPanel* panel);

protected:
    void changeEvent(QEvent* event) override;

private:
    void applyPalette();

    QLabel* m_title;
    QToolButton* m_save;
    QCustomPlot* m_plot;
    QCPItemText* m_noData;
    QList<QCPItemStraightLine*> m_lines;
    QList<QCPItemText*> m_lineLabels;
    int m_window = 300;
    bool m_fixed = false;
    double m_min = 0, m_max = 1;
};

}  // namespace enclave::ui
