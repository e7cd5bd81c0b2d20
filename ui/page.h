// Page: one screen of the console (Dashboard, Models, Chat, ...). Pages share the window's EngineClient,
// load their data in refresh() (called when shown, after sign-in and after a reconnect), and report
// errors and notices through notice() so the window shows them; they never fail silently. Texts are set
// in retranslate(), which runs at construction and again on every QEvent::LanguageChange.
#pragma once

#include <QWidget>
#include <functional>

#include "app/engine_client.h"

namespace enclave::ui {

using app::EngineClient;
using app::EngineError;
namespace v1 = ::enclave::v1;

// A text for the window's message bar. `text` renders the console's words in the current language and is
// called again after a language switch (so a message shown before the switch follows it); `detail` is the
// engine's own message (its words, names and values; not translated), shown apart from it.
struct Notice {
    std::function<QString()> text;
    QString detail;
    bool error = false;

    static Notice of(const EngineError& e) {
        return {[e] { return e.summary(); }, e.message, true};
    }
};

class Page : public QWidget {
    Q_OBJECT
public:
    explicit Page(EngineClient& client, QWidget* parent = nullptr);
    virtual QString title() const = 0;  // translated, for the navigation list
    virtual void refresh() {}
    // The engine went away (false) or came back (true): pages with open streams reopen them. Also false
    // at sign-out: streams and polls stop until the next refresh().
    virtual void setConnected(bool) {}
    // The user signed out (or another user signed in): forget what belonged to the previous user.
    virtual void forgetUser() {}

signals:
    void notice(const enclave::ui::Notice& notice);

protected:
    void changeEvent(QEvent* event) override;
    virtual void retranslate() = 0;
    // A notice in the user's language: `text` is called now and again after each language switch.
    void say(std::function<QString()> text, bool isError = false);
    void fail(const EngineError& error);
    auto failer() {
        return [this](const EngineError& e) { fail(e); };
    }

    EngineClient& m_client;
};

}  // namespace enclave::ui
