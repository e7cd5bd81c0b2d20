#include "app/models/row_table_model.h"

#include <QCoreApplication>
#include <QLocale>

namespace enclave::app::fmt {

QString time(qint64 unixMs) {
    if (unixMs <= 0) return {};
    return QDateTime::fromMSecsSinceEpoch(unixMs).toString(QStringLiteral("yyyy-MM-dd HH:mm:ss"));
}

QString bytes(double b) {
    static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024.0 && u < 4) {
        b /= 1024.0;
        ++u;
    }
    return QStringLiteral("%1 %2").arg(b, 0, 'f', u == 0 ? 0 : 1).arg(QLatin1String(units[u]));
}

QString count(double n) {
    if (n >= 1e9) return QStringLiteral("%1 B").arg(n / 1e9, 0, 'f', 2);
    if (n >= 1e6) return QStringLiteral("%1 M").arg(n / 1e6, 0, 'f', 0);
    if (n >= 1e3) return QStringLiteral("%1 K").arg(n / 1e3, 0, 'f', 0);
    return QString::number(n, 'f', 0);
}

}  // namespace enclave::app::fmt
