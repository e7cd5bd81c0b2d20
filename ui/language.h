// Language: switches the console between English and Simplified Chinese at run time. Installing a new
// translator makes Qt send QEvent::LanguageChange to every widget, whose retranslate() then resets its
// texts: no restart. Owned by main(); not a singleton.
#pragma once

#include <QObject>
#include <QTranslator>

namespace enclave::ui {

class Language : public QObject {
    Q_OBJECT
public:
    explicit Language(QObject* parent = nullptr);
    static QStringList codes() { return {QStringLiteral("en"), QStringLiteral("zh_CN")}; }
    // Returns false (and keeps the current language) when the translation is not available.
    bool set(const QString& code);
    QString current() const { return m_code; }

signals:
    void changed(const QString& code);

private:
    QTranslator m_app;
    QTranslator m_qt;  // Qt's own dialogs and buttons, when the system has them
    QString m_code = QStringLiteral("en");
};

}  // namespace enclave::ui
