// Chat: conversations kept by the engine per user (Conversations.*), answers streamed with a stop
// button, sampling settings and a system prompt, tokens/s and token counts, export as Markdown or JSON.
#pragma once

#include <QElapsedTimer>

#include "app/chat_transcript.h"
#include "app/models/conversations_model.h"
#include "ui/page.h"

class QComboBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;
class QTableView;
class QToolButton;

namespace enclave::ui {

class ChatView;

class ChatPage : public Page {
    Q_OBJECT
public:
    explicit ChatPage(EngineClient& client, QWidget* parent = nullptr);
    QString title() const override { return tr("Chat"); }
    void refresh() override;
    void setConnected(bool connected) override;
    void forgetUser() override;

    // For tests and scripting: send `text` as the user.
    void send(const QString& text);
    void stop();
    bool streaming() const { return bool(m_stream); }
    const QList<app::ChatTurn>& turns() const { return m_turns; }
    bool exportTo(const QString& path, bool json, QString* error) const;
    ChatView* view() const { return m_view; }

signals:
    void answerFinished(const QString& reason);

protected:
    void retranslate() override;

private:
    void newConversation();
    void openConversation(qint64 id);
    void deleteConversation();
    void startStream(const std::function<app::Stream()>& open);
    void onEvent(const v1::GenerateEvent& e);
    void onDone(const EngineError* e);
    v1::Sampling sampling() const;
    void updateStats();
    void exportDialog(bool json);
    void setBusy(bool busy);

    app::ConversationsModel m_conversations;
    QTableView* m_list;
    QPushButton* m_new;
    QPushButton* m_delete;
    ChatView* m_view;
    QPlainTextEdit* m_input;
    QPushButton* m_send;
    QPushButton* m_stop;
    QToolButton* m_export;
    QLabel* m_stats;
    QGroupBox* m_settingsBox;
    QLabel* m_modelLabel;
    QComboBox* m_model;
    QLabel* m_systemLabel;
    QPlainTextEdit* m_system;
    QLabel* m_tempLabel;
    QDoubleSpinBox* m_temperature;
    QLabel* m_topPLabel;
    QDoubleSpinBox* m_topP;
    QLabel* m_topKLabel;
    QSpinBox* m_topK;
    QLabel* m_maxLabel;
    QSpinBox* m_maxTokens;

    QList<app::ChatTurn> m_turns;
    qint64 m_conversationId = 0;
    // Bumped by every change made to the list here (a conversation created, the user signed out): a list reply
    // requested before it is stale and dropped, so a slow ListConversations cannot wipe out the row of a
    // conversation just made, nor show a signed-out user's conversations to the next one.
    quint64 m_listVersion = 0;
    QString m_title;
    app::Stream m_stream;
    QElapsedTimer m_streamClock;
    qint64 m_firstTokenMs = -1;
    qint64 m_generated = 0;
    qint64 m_promptTokens = 0;
    double m_tokensPerSecond = 0;
};

}  // namespace enclave::ui
