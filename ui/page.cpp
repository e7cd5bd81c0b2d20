#include "ui/page.h"

#include <QEvent>

namespace enclave::ui {

Page::Page(EngineClient& client, QWidget* parent) : QWidget(parent), m_client(client) {}

void Page::changeEvent(QEvent* event) {
    if (event->type() == QEvent::LanguageChange) retranslate();
    QWidget::changeEvent(event);
}

void Page::say(std::function<QString()> text, bool isError) { emit notice(Notice{std::move(text), {}, isError}); }

void Page::fail(const EngineError& error) {
    if (error.isCancelled()) return;
    emit notice(Notice::of(error));
}

}  // namespace enclave::ui
