#include "ui/pages/settings_page.h"

#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QVBoxLayout>

#include "ui/language.h"
#include "ui/theme.h"

namespace enclave::ui {

SettingsPage::SettingsPage(EngineClient& client, Language& language, QSettings& settings, QWidget* parent)
    : Page(client, parent), m_language(language), m_settings(settings) {
    auto* layout = new QVBoxLayout(this);
    m_box = new QGroupBox(this);
    auto* form = new QFormLayout(m_box);
    m_languageLabel = new QLabel(m_box);
    m_languageBox = new QComboBox(m_box);
    // Each language's name in itself, so anyone can find theirs whatever the current language.
    m_languageBox->addItem(QStringLiteral("English"), QStringLiteral("en"));
    m_languageBox->addItem(QStringLiteral("简体中文"), QStringLiteral("zh_CN"));
    m_languageBox->setCurrentIndex(m_languageBox->findData(language.current()));
    m_themeLabel = new QLabel(m_box);
    m_theme = new QComboBox(m_box);
    m_theme->addItems({QString(), QString()});
    m_theme->setCurrentIndex(themeFromCode(settings.value(QStringLiteral("theme")).toString()) == Theme::Dark ? 1 : 0);
    form->addRow(m_languageLabel, m_languageBox);
    form->addRow(m_themeLabel, m_theme);
    layout->addWidget(m_box);
    layout->addStretch(1);
    connect(m_languageBox, &QComboBox::currentIndexChanged, this, [this] {
        const QString code = m_languageBox->currentData().toString();
        if (m_language.set(code))
            m_settings.setValue(QStringLiteral("language"), code);
        else
            say([=, this] { return tr("The translation for %1 is not available.").arg(m_languageBox->currentText()); }, true);
    });
    connect(&language, &Language::changed, this, [this](const QString& code) {
        const QSignalBlocker block(m_languageBox);
        m_languageBox->setCurrentIndex(m_languageBox->findData(code));
    });
    connect(m_theme, &QComboBox::currentIndexChanged, this, [this](int i) {
        const Theme t = i == 1 ? Theme::Dark : Theme::Light;
        applyTheme(t);
        m_settings.setValue(QStringLiteral("theme"), themeCode(t));
    });
    retranslate();
}

void SettingsPage::retranslate() {
    m_box->setTitle(tr("Appearance"));
    m_languageLabel->setText(tr("Language:"));
    m_themeLabel->setText(tr("Theme:"));
    m_theme->setItemText(0, tr("Light"));
    m_theme->setItemText(1, tr("Dark"));
}

}  // namespace enclave::ui
