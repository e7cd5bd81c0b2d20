#include "ui/pages/chat_page.h"

#include <QComboBox>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QMenu>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableView>
#include <QToolButton>
#include <QVBoxLayout>

#include "ui/widgets/chat_view.h"

namespace enclave::ui {

ChatPage::ChatPage(EngineClient& client, QWidget* parent) : Page(client, parent), m_conversations(this) {
    auto* layout = new QHBoxLayout(this);
    auto* split = new QSplitter(this);
    layout->addWidget(split);

    auto* left = new QWidget(split);
    auto* ll = new QVBoxLayout(left);
    ll->setContentsMargins(0, 0, 0, 0);
    m_list = new QTableView(left);
    m_list->setModel(&m_conversations);
    m_list->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_list->setSelectionMode(QAbstractItemView::SingleSelection);
    m_list->verticalHeader()->hide();
    m_list->setWordWrap(false);
    m_list->setColumnHidden(app::ConversationsModel::Model, true);  // shown in the settings beside the chat
    m_list->setColumnHidden(app::ConversationsModel::Messages, true);
    m_list->horizontalHeader()->setStretchLastSection(true);
    ll->addWidget(m_list, 1);
    auto* lb = new QHBoxLayout;
    m_new = new QPushButton(left);
    m_delete = new QPushButton(left);
    lb->addWidget(m_new);
    lb->addWidget(m_delete);
    ll->addLayout(lb);

    auto* center = new QWidget(split);
    auto* cl = new QVBoxLayout(center);
    cl->setContentsMargins(0, 0, 0, 0);
    m_view = new ChatView(center);
    cl->addWidget(m_view, 1);
    m_stats = new QLabel(center);
    cl->addWidget(m_stats);
    m_input = new QPlainTextEdit(center);
    m_input->setMaximumHeight(90);
    cl->addWidget(m_input);
    auto* cb = new QHBoxLayout;
    m_export = new QToolButton(center);
    m_export->setPopupMode(QToolButton::InstantPopup);
    auto* menu = new QMenu(m_export);
    menu->addAction(QStringLiteral("Markdown"), this, [this] { exportDialog(false); });
    menu->addAction(QStringLiteral("JSON"), this, [this] { exportDialog(true); });
    m_export->setMenu(menu);
    m_send = new QPushButton(center);
    m_stop = new QPushButton(center);
    m_stop->setEnabled(false);
    cb->addWidget(m_export);
    cb->addStretch(1);
    cb->addWidget(m_stop);
    cb->addWidget(m_send);
    cl->addLayout(cb);

    m_settingsBox = new QGroupBox(split);
    auto* settingsLayout = new QVBoxLayout(m_settingsBox);
    auto* form = new QFormLayout;
    settingsLayout->addLayout(form);
    settingsLayout->addStretch(1);
    m_modelLabel = new QLabel(m_settingsBox);
    m_model = new QComboBox(m_settingsBox);
    m_systemLabel = new QLabel(m_settingsBox);
    m_system = new QPlainTextEdit(m_settingsBox);
    m_system->setMaximumHeight(100);
    m_tempLabel = new QLabel(m_settingsBox);
    m_temperature = new QDoubleSpinBox(m_settingsBox);
    m_temperature->setRange(0, 2);
    m_temperature->setSingleStep(0.1);
    m_temperature->setValue(0.7);
    m_topPLabel = new QLabel(m_settingsBox);
    m_topP = new QDoubleSpinBox(m_settingsBox);
    m_topP->setRange(0.01, 1);
    m_topP->setSingleStep(0.05);
    m_topP->setValue(0.95);
    m_topKLabel = new QLabel(m_settingsBox);
    m_topK = new QSpinBox(m_settingsBox);
    m_topK->setRange(0, 1000);
    m_topK->setValue(40);
    m_maxLabel = new QLabel(m_settingsBox);
    m_maxTokens = new QSpinBox(m_settingsBox);
    m_maxTokens->setRange(1, 32768);
    m_maxTokens->setValue(256);
    form->addRow(m_modelLabel, m_model);
    form->addRow(m_systemLabel, m_system);
    form->addRow(m_tempLabel, m_temperature);
    form->addRow(m_topPLabel, m_topP);
    form->addRow(m_topKLabel, m_topK);
    form->addRow(m_maxLabel, m_maxTokens);
    split->setStretchFactor(0, 1);
    split->setStretchFactor(1, 3);
    split->setStretchFactor(2, 1);
    split->setSizes({260, 760, 300});

    m_list->setObjectName(QStringLiteral("conversations"));
    m_new->setObjectName(QStringLiteral("newConversation"));
    m_input->setObjectName(QStringLiteral("chatInput"));
    m_send->setObjectName(QStringLiteral("send"));
    m_stop->setObjectName(QStringLiteral("stop"));
    m_model->setObjectName(QStringLiteral("chatModel"));
    m_model->setProperty("enclaveData", true);  // served model names
    m_stats->setObjectName(QStringLiteral("chatStats"));
    m_maxTokens->setObjectName(QStringLiteral("maxTokens"));
    m_temperature->setObjectName(QStringLiteral("temperature"));
    connect(m_new, &QPushButton::clicked, this, &ChatPage::newConversation);
    connect(m_delete, &QPushButton::clicked, this, &ChatPage::deleteConversation);
    connect(m_send, &QPushButton::clicked, this, [this] {
        const QString text = m_input->toPlainText().trimmed();
        if (text.isEmpty()) return;
        m_input->clear();
        send(text);
    });
    connect(m_stop, &QPushButton::clicked, this, &ChatPage::stop);
    connect(m_list, &QTableView::clicked, this, [this](const QModelIndex& i) {
        openConversation(m_conversations.data(i, Qt::UserRole).toLongLong());
    });
    retranslate();
}

void ChatPage::retranslate() {
    m_new->setText(tr("New conversation"));
    m_delete->setText(tr("Delete"));
    m_export->setText(tr("Export"));
    m_export->menu()->actions().at(0)->setText(tr("As Markdown…"));
    m_export->menu()->actions().at(1)->setText(tr("As JSON…"));
    m_send->setText(tr("Send"));
    m_stop->setText(tr("Stop"));
    m_input->setPlaceholderText(tr("Write a message…"));
    m_settingsBox->setTitle(tr("Settings"));
    m_modelLabel->setText(tr("Model:"));
    m_systemLabel->setText(tr("System prompt:"));
    m_system->setPlaceholderText(tr("Optional instructions for the model"));
    m_tempLabel->setText(tr("Temperature:"));
    m_topPLabel->setText(tr("Top p:"));
    m_topKLabel->setText(tr("Top k:"));
    m_maxLabel->setText(tr("Max tokens:"));
    updateStats();
}

void ChatPage::refresh() {
    m_client.call(
        "Models.ListModels", &v1::Models::Stub::ListModels, v1::ListModelsRequest{}, this,
        [this](const v1::ListModelsReply& r) {
            const QString current = m_model->currentText();
            m_model->clear();
            for (const auto& m : r.models()) m_model->addItem(QString::fromStdString(m.id()));
            const int i = m_model->findText(current);
            if (i >= 0) m_model->setCurrentIndex(i);
        },
        failer());
    m_client.call(
        "Conversations.ListConversations", &v1::Conversations::Stub::ListConversations, v1::ListConversationsRequest{}, this,
        [this, version = m_listVersion](const v1::ListConversationsReply& r) {
            if (version != m_listVersion) return;  // the list changed here after this request left
            m_conversations.setRows(app::toList(r.conversations()));
            if (m_conversationId) {  // keep the open conversation selected
                for (int i = 0; i < m_conversations.rowCount(); ++i)
                    if (m_conversations.rowAt(i).id() == m_conversationId) m_list->selectRow(i);
            }
        },
        failer());
}

void ChatPage::setConnected(bool connected) {
    if (!connected) stop();
}

void ChatPage::forgetUser() {
    newConversation();
    ++m_listVersion;  // a list still on its way belongs to the user who left
    m_conversations.setRows({});
    m_system->clear();
}

v1::Sampling ChatPage::sampling() const {
    v1::Sampling s;
    s.set_temperature(float(m_temperature->value()));
    s.set_top_p(float(m_topP->value()));
    s.set_top_k(m_topK->value());
    s.set_max_tokens(m_maxTokens->value());
    return s;
}

void ChatPage::newConversation() {
    if (m_stream) stop();
    m_conversationId = 0;
    m_title.clear();
    m_turns.clear();
    m_list->clearSelection();
    m_view->setTurns(m_turns);
    m_generated = m_promptTokens = 0;
    m_tokensPerSecond = 0;
    updateStats();
}

void ChatPage::openConversation(qint64 id) {
    if (m_stream) stop();
    v1::GetConversationRequest req;
    req.set_id(id);
    m_client.call(
        "Conversations.GetConversation", &v1::Conversations::Stub::GetConversation, req, this,
        [this](const v1::Conversation& c) {
            m_conversationId = c.summary().id();
            m_title = QString::fromStdString(c.summary().title());
            m_system->setPlainText(QString::fromStdString(c.system_prompt()));
            const int mi = m_model->findText(QString::fromStdString(c.summary().model()));
            if (mi >= 0) m_model->setCurrentIndex(mi);
            m_turns.clear();
            for (const auto& m : c.messages())
                m_turns.append({QString::fromStdString(m.role()), QString::fromStdString(m.content()), m.tokens(),
                                QString::fromStdString(m.finish_reason()), m.time_ms()});
            m_view->setTurns(m_turns);
        },
        failer());
}

void ChatPage::deleteConversation() {
    const auto rows = m_list->selectionModel()->selectedRows();
    if (rows.isEmpty()) return;
    v1::DeleteConversationRequest req;
    req.set_id(m_conversations.data(rows.first(), Qt::UserRole).toLongLong());
    m_client.call("Conversations.DeleteConversation", &v1::Conversations::Stub::DeleteConversation, req, this,
                  [this](const v1::DeleteConversationReply&) {
                      newConversation();
                      refresh();
                  },
                  failer());
}

void ChatPage::send(const QString& text) {
    if (m_stream) return;
    m_turns.append({QStringLiteral("user"), text, 0, QString(), QDateTime::currentMSecsSinceEpoch()});
    m_turns.append({QStringLiteral("assistant"), QString(), 0, QString(), QDateTime::currentMSecsSinceEpoch()});
    m_view->setTurns(m_turns);
    if (m_title.isEmpty()) m_title = text.left(48);
    const auto sendTo = [this, text](qint64 id) {
        v1::SendMessageRequest req;
        req.set_conversation_id(id);
        req.set_content(text.toStdString());
        *req.mutable_sampling() = sampling();
        startStream([this, req] {
            return m_client.stream("Conversations.Send", &v1::Conversations::Stub::Send, req, this,
                                   [this](const v1::GenerateEvent& e) { onEvent(e); }, [this](const EngineError* e) { onDone(e); });
        });
    };
    if (m_conversationId) {
        sendTo(m_conversationId);
        return;
    }
    v1::CreateConversationRequest req;
    req.set_title(m_title.toStdString());
    req.set_model(m_model->currentText().toStdString());
    req.set_system_prompt(m_system->toPlainText().toStdString());
    *req.mutable_sampling() = sampling();
    setBusy(true);
    m_client.call("Conversations.CreateConversation", &v1::Conversations::Stub::CreateConversation, req, this,
                  [this, sendTo](const v1::Conversation& c) {
                      m_conversationId = c.summary().id();
                      ++m_listVersion;
                      m_conversations.prependRow(c.summary());
                      sendTo(m_conversationId);
                  },
                  [this](const EngineError& e) {
                      setBusy(false);
                      m_turns.removeLast();
                      m_turns.removeLast();
                      m_view->setTurns(m_turns);
                      fail(e);
                      emit answerFinished(QStringLiteral("error"));
                  });
}

void ChatPage::startStream(const std::function<app::Stream()>& open) {
    m_generated = 0;
    m_promptTokens = 0;
    m_firstTokenMs = -1;
    m_tokensPerSecond = 0;
    m_streamClock.start();
    setBusy(true);
    m_stream = open();
}

void ChatPage::setBusy(bool busy) {
    m_send->setEnabled(!busy);
    m_stop->setEnabled(busy);
}

void ChatPage::onEvent(const v1::GenerateEvent& e) {
    if (m_turns.isEmpty()) return;
    app::ChatTurn& last = m_turns.last();
    if (e.has_token()) {
        if (m_firstTokenMs < 0) m_firstTokenMs = m_streamClock.elapsed();
        ++m_generated;
        last.content += QString::fromStdString(e.token().text());
        const double seconds = (m_streamClock.elapsed() - m_firstTokenMs) / 1000.0;
        if (seconds > 0.05) m_tokensPerSecond = (m_generated - 1) / seconds;
    } else if (e.has_finished()) {
        last.tokens = e.finished().generated_tokens();
        last.finishReason = QString::fromStdString(e.finished().reason());
        m_promptTokens = e.finished().prompt_tokens();
        m_generated = e.finished().generated_tokens();
    }
    m_view->setTurns(m_turns);
    updateStats();
}

void ChatPage::onDone(const EngineError* e) {
    m_stream.reset();
    setBusy(false);
    QString reason = m_turns.isEmpty() ? QString() : m_turns.last().finishReason;
    if (e) {
        if (e->isCancelled()) {
            reason = QStringLiteral("cancelled");
            if (!m_turns.isEmpty()) {
                m_turns.last().finishReason = reason;
                m_turns.last().tokens = m_generated;  // the tokens that arrived before the stop
            }
        } else {
            if (!m_turns.isEmpty() && m_turns.last().content.isEmpty()) m_turns.removeLast();
            reason = QStringLiteral("error");
            fail(*e);
        }
    }
    m_view->setTurns(m_turns);
    updateStats();
    emit answerFinished(reason);
}

void ChatPage::stop() {
    if (m_stream) m_stream->cancel();
}

void ChatPage::updateStats() {
    if (m_generated == 0 && m_promptTokens == 0) {
        m_stats->setText(tr("No answer yet."));
        return;
    }
    m_stats->setText(tr("%1 tokens/s · prompt %2 tokens · generated %3 tokens")
                         .arg(m_tokensPerSecond, 0, 'f', 1)
                         .arg(m_promptTokens)
                         .arg(m_generated));
}

bool ChatPage::exportTo(const QString& path, bool json, QString* error) const {
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
        if (error) *error = f.errorString();
        return false;
    }
    const QString title = m_title.isEmpty() ? tr("Conversation") : m_title;
    f.write(json ? app::toJson(title, m_model->currentText(), m_turns)
                 : app::toMarkdown(title, m_model->currentText(), m_turns).toUtf8());
    return true;
}

void ChatPage::exportDialog(bool json) {
    const QString path = QFileDialog::getSaveFileName(this, tr("Export conversation"),
                                                      json ? QStringLiteral("conversation.json") : QStringLiteral("conversation.md"),
                                                      json ? tr("JSON files (*.json)") : tr("Markdown files (*.md)"));
    if (path.isEmpty()) return;
    QString error;
    if (exportTo(path, json, &error))
        say([=, this] { return tr("Exported the conversation to %1").arg(path); }, false);
    else
        say([=, this] { return tr("Could not write %1: %2").arg(path, error); }, true);
}

}  // namespace enclave::ui
