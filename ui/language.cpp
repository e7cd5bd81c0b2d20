#include "ui/language.h"

#include <QCoreApplication>
#include <QLibraryInfo>
#include <QLocale>

namespace enclave::ui {

Language::Language(QObject* parent) : QObject(parent) {}

bool Language::set(const QString& code) {
    if (!codes().contains(code)) return false;
    QCoreApplication::removeTranslator(&m_app);
    QCoreApplication::removeTranslator(&m_qt);
    if (!m_app.load(QStringLiteral(":/i18n/enclave_%1.qm").arg(code))) return false;
    QCoreApplication::installTranslator(&m_app);
    if (m_qt.load(QLocale(code), QStringLiteral("qtbase"), QStringLiteral("_"),
                  QLibraryInfo::path(QLibraryInfo::TranslationsPath)))
        QCoreApplication::installTranslator(&m_qt);
    QLocale::setDefault(QLocale(code));
    m_code = code;
    emit changed(code);
    return true;
}

}  // namespace enclave::ui
