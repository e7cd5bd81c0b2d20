#include "ui/widgets/chart_panel.h"

#include <qcustomplot.h>

#include <QDateTime>
#include <QLabel>
#include <QToolButton>
#include <QVBoxLayout>
#include <cmath>

namespace enclave::ui {

ChartPanel::ChartPanel(QWidget* parent) : QWidget(parent) {
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    auto* head = new QHBoxLayout;
    m_title = new QLabel(this);
    QFont bold = m_title->font();
    bold.setBold(true);
    m_title->setFont(bold);
    m_save = new QToolButton(this);
    m_save->setAutoRaise(true);
    m_save->setText(QStringLiteral("PNG"));
    connect(m_save, &QToolButton::clicked, this, [this] { emit saveRequested(this); });
    head->addWidget(m_title, 1);
    head->addWidget(m_save);
    layout->addLayout(head);
    m_plot = new QCustomPlot(this);
    m_plot->setMinimumHeight(170);
    auto ticker = QSharedPointer<QCPAxisTickerDateTime>::create();
    ticker->setDateTimeFormat(QStringLiteral("HH:mm:ss"));
    ticker->setTickCount(4);
    m_plot->xAxis->setTicker(ticker);
    m_plot->legend->setVisible(true);
    m_plot->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignLeft);
    m_plot->legend->setRowSpacing(0);
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    m_plot->legend->setFont(small);
    m_noData = new QCPItemText(m_plot);
    m_noData->position->setType(QCPItemPosition::ptAxisRectRatio);
    m_noData->position->setCoords(0.5, 0.5);
    m_noData->setPositionAlignment(Qt::AlignCenter);
    layout->addWidget(m_plot, 1);
    setWindow(m_window);
    applyPalette();
}

void ChartPanel::setTitle(const QString& title) {
    m_title->setText(title);
    m_save->setToolTip(tr("Save this chart as PNG"));
}

void ChartPanel::setUnit(const QString& unit) { m_plot->yAxis->setLabel(unit); }

int ChartPanel::addSeries(const QColor& color) {
    QCPGraph* g = m_plot->addGraph();
    g->setPen(QPen(color, 1.6));
    return m_plot->graphCount() - 1;
}

int ChartPanel::seriesCount() const { return m_plot->graphCount(); }

void ChartPanel::setSeriesName(int series, const QString& name) {
    if (series < m_plot->graphCount()) m_plot->graph(series)->setName(name);
}

void ChartPanel::setThreshold(int line, double value, const QString& label) {
    while (m_lines.size() <= line) {
        auto* l = new QCPItemStraightLine(m_plot);
        l->setPen(QPen(QColor(0xd9, 0x3b, 0x3b), 1.2, Qt::DashLine));
        auto* t = new QCPItemText(m_plot);
        t->setColor(QColor(0xd9, 0x3b, 0x3b));
        t->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
        t->position->setTypeX(QCPItemPosition::ptAxisRectRatio);
        t->position->setTypeY(QCPItemPosition::ptPlotCoords);
        m_lines.append(l);
        m_lineLabels.append(t);
    }
    const bool show = !std::isnan(value);
    m_lines[line]->setVisible(show);
    m_lineLabels[line]->setVisible(show);
    if (!show) return;
    m_lines[line]->point1->setCoords(0, value);
    m_lines[line]->point2->setCoords(1, value);
    m_lineLabels[line]->position->setCoords(0.99, value);
    m_lineLabels[line]->setText(label);
}

QList<double> ChartPanel::thresholds() const {
    QList<double> out;
    for (const auto* l : m_lines)
        if (l->visible()) out << l->point1->coords().y();
    return out;
}

void ChartPanel::setFixedRange(double min, double max) {
    m_fixed = true;
    m_min = min;
    m_max = max;
}

void ChartPanel::setNoDataText(const QString& text) { m_noData->setText(text); }

void ChartPanel::append(int series, double t, double value) {
    if (series >= m_plot->graphCount() || std::isnan(value)) return;
    m_plot->graph(series)->addData(t, value);
}

void ChartPanel::clear() {
    for (int i = 0; i < m_plot->graphCount(); ++i) m_plot->graph(i)->data()->clear();
}

void ChartPanel::setWindow(int seconds) { m_window = seconds; }

bool ChartPanel::hasData() const {
    for (int i = 0; i < m_plot->graphCount(); ++i)
        if (!m_plot->graph(i)->data()->isEmpty()) return true;
    return false;
}

void ChartPanel::replot() {
    const double now = QDateTime::currentMSecsSinceEpoch() / 1000.0;
    auto* ticker = static_cast<QCPAxisTickerDateTime*>(m_plot->xAxis->ticker().data());
    ticker->setDateTimeFormat(m_window > 7200 ? QStringLiteral("HH:mm") : QStringLiteral("HH:mm:ss"));
    m_plot->xAxis->setRange(now - m_window, now);
    double maxValue = 0;
    bool any = false;
    for (int i = 0; i < m_plot->graphCount(); ++i) {
        auto graphData = m_plot->graph(i)->data();
        graphData->removeBefore(now - 24 * 3600 - 60);  // the longest window
        bool found = false;
        const QCPRange r = graphData->valueRange(found, QCP::sdBoth, QCPRange(now - m_window, now));
        if (found) {
            maxValue = std::max(maxValue, r.upper);
            any = true;
        }
        m_plot->graph(i)->removeFromLegend();
        if (!m_plot->graph(i)->name().isEmpty()) m_plot->graph(i)->addToLegend();
    }
    for (auto* l : std::as_const(m_lines))
        if (l->visible()) maxValue = std::max(maxValue, l->point1->coords().y());
    if (m_fixed)
        m_plot->yAxis->setRange(m_min, m_max);
    else
        m_plot->yAxis->setRange(0, maxValue > 0 ? maxValue * 1.15 : 1);
    // A threshold's label sits above its line, or below it when there is no room above (about a label's
    // height), where it would be cut off or crossed by data at the top of a fixed range (a success ratio of 1).
    const QCPRange range = m_plot->yAxis->range();
    for (int i = 0; i < m_lines.size(); ++i) {
        const bool high = range.upper - m_lines[i]->point1->coords().y() < 0.12 * range.size();
        m_lineLabels[i]->setPositionAlignment(Qt::AlignRight | (high ? Qt::AlignTop : Qt::AlignBottom));
    }
    m_noData->setVisible(!any);
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

bool ChartPanel::savePng(const QString& path) {
    m_plot->replot();
    return m_plot->savePng(path, m_plot->width(), m_plot->height());
}

void ChartPanel::changeEvent(QEvent* event) {
    if (event->type() == QEvent::PaletteChange) applyPalette();
    QWidget::changeEvent(event);
}

void ChartPanel::applyPalette() {
    const QPalette p = palette();
    const QColor fg = p.color(QPalette::WindowText), bg = p.color(QPalette::Base);
    QColor grid = fg;
    grid.setAlpha(40);
    m_plot->setBackground(bg);
    for (QCPAxis* a : {m_plot->xAxis, m_plot->yAxis}) {
        a->setBasePen(QPen(fg));
        a->setTickPen(QPen(fg));
        a->setSubTickPen(QPen(fg));
        a->setTickLabelColor(fg);
        a->setLabelColor(fg);
        a->grid()->setPen(QPen(grid, 1, Qt::DotLine));
    }
    m_plot->legend->setBrush(QBrush(bg));
    m_plot->legend->setTextColor(fg);
    m_plot->legend->setBorderPen(QPen(grid));
    m_noData->setColor(p.color(QPalette::PlaceholderText));
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace enclave::ui
