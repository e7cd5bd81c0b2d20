// Theme: light or dark palette on the Fusion style, applied to the whole application at run time.
#pragma once

#include <QString>

namespace enclave::ui {

enum class Theme { Light, Dark };
void applyTheme(Theme theme);
QString themeCode(Theme theme);         // "light", "dark" (settings)
Theme themeFromCode(const QString& code);

}  // namespace enclave::ui
