// Settings: the console's language (English / 简体中文, switched at run time) and theme (light/dark),
// saved in QSettings.
#pragma once

#include <QSettings>

#include "ui/page.h"

class QComboBox;
class QGroupBox;
class QLabel;

namespace enclave::ui {

class Language;

class SettingsPage : public Page {
    Q_OBJECT
public:
    SettingsPage(EngineClient& client, Language& language, QSettings& settings, QWidget* parent = nullptr);
    QString title() const override { return tr("Settings"); }

protected:
    void retranslate() override;

private:
    Language& m_language;
    QSettings& m_settings;
    QGroupBox* m_box;
    QLabel* m_languageLabel;
    QComboBox* m_languageBox;
    QLabel* m_themeLabel;
    QComboBox* m_theme;
};

}  // namespace enclave::ui
