#include "ui/pages/connect_page.h"

#include <QComboBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QStackedWidget>
#include <QVBoxLayout>

namespace enclave::ui {

using app::ConnectionProfile;
using app::EngineProcess;

ConnectPage::ConnectPage(EngineClient& client, EngineProcess& process, app::ProfileStore& profiles, QWidget* parent)
    : Page(client, parent), m_process(process), m_profiles(profiles) {
    auto* layout = new QVBoxLayout(this);
    m_profileBox = new QGroupBox(this);
    auto* pl = new QVBoxLayout(m_profileBox);
    auto* top = new QHBoxLayout;
    m_profileLabel = new QLabel(m_profileBox);
    m_profileCombo = new QComboBox(m_profileBox);
    m_profileCombo->setMinimumWidth(180);
    m_profileCombo->setProperty("enclaveData", true);  // profile names are the user's own
    m_save = new QPushButton(m_profileBox);
    m_delete = new QPushButton(m_profileBox);
    m_kindLabel = new QLabel(m_profileBox);
    m_kind = new QComboBox(m_profileBox);
    m_kind->addItems({QString(), QString()});
    top->addWidget(m_profileLabel);
    top->addWidget(m_profileCombo);
    top->addWidget(m_save);
    top->addWidget(m_delete);
    top->addSpacing(20);
    top->addWidget(m_kindLabel);
    top->addWidget(m_kind);
    top->addStretch(1);
    pl->addLayout(top);

    m_stack = new QStackedWidget(m_profileBox);
    auto* local = new QWidget(m_stack);
    m_localForm = new QFormLayout(local);
    m_name = new QLineEdit(m_profileBox);
    m_binary = new QLineEdit(local);
    m_modelDir = new QLineEdit(local);
    m_stateDir = new QLineEdit(local);
    m_models = new QLineEdit(local);
    m_backend = new QComboBox(local);
    m_backend->addItems({QStringLiteral("cpu"), QStringLiteral("cuda")});
    m_gpus = new QLineEdit(local);
    m_socket = new QLineEdit(local);
    m_http = new QLineEdit(local);
    m_tls = new QLineEdit(local);
    m_tlsCert = new QLineEdit(local);
    m_tlsKey = new QLineEdit(local);
    for (QWidget* w : {static_cast<QWidget*>(m_name), static_cast<QWidget*>(m_binary), static_cast<QWidget*>(m_modelDir),
                       static_cast<QWidget*>(m_stateDir), static_cast<QWidget*>(m_models), static_cast<QWidget*>(m_backend),
                       static_cast<QWidget*>(m_gpus), static_cast<QWidget*>(m_socket), static_cast<QWidget*>(m_http),
                       static_cast<QWidget*>(m_tls), static_cast<QWidget*>(m_tlsCert), static_cast<QWidget*>(m_tlsKey)})
        m_localForm->addRow(new QLabel(local), w);
    auto* remote = new QWidget(m_stack);
    m_remoteForm = new QFormLayout(remote);
    m_host = new QLineEdit(remote);
    m_port = new QSpinBox(remote);
    m_port->setRange(1, 65535);
    m_ca = new QLineEdit(remote);
    m_pinned = new QLineEdit(remote);
    m_serverName = new QLineEdit(remote);
    m_remoteForm->addRow(new QLabel(remote), m_host);
    m_remoteForm->addRow(new QLabel(remote), m_port);
    m_remoteForm->addRow(new QLabel(remote), m_ca);
    m_remoteForm->addRow(new QLabel(remote), m_pinned);
    m_remoteForm->addRow(new QLabel(remote), m_serverName);
    m_stack->addWidget(local);
    m_stack->addWidget(remote);
    pl->addWidget(m_stack);

    auto* actions = new QHBoxLayout;
    m_start = new QPushButton(m_profileBox);
    m_stop = new QPushButton(m_profileBox);
    m_restart = new QPushButton(m_profileBox);
    m_connect = new QPushButton(m_profileBox);
    m_state = new QLabel(m_profileBox);
    m_state->setWordWrap(true);
    for (auto* b : {m_start, m_stop, m_restart, m_connect}) actions->addWidget(b);
    actions->addWidget(m_state, 1);
    pl->addLayout(actions);
    layout->addWidget(m_profileBox);

    m_logBox = new QGroupBox(this);
    auto* ll = new QVBoxLayout(m_logBox);
    m_log = new QPlainTextEdit(m_logBox);
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    m_log->setFont(QFont(QStringLiteral("monospace")));
    ll->addWidget(m_log);
    layout->addWidget(m_logBox, 1);

    m_start->setObjectName(QStringLiteral("startEngine"));
    m_connect->setObjectName(QStringLiteral("connectEngine"));
    for (const QString& line : process.log()) m_log->appendPlainText(line);
    connect(&process, &EngineProcess::logLine, m_log, &QPlainTextEdit::appendPlainText);
    connect(&process, &EngineProcess::stateChanged, this, &ConnectPage::updateState);
    connect(&process, &EngineProcess::ready, this, [this] {
        m_restartAttempt = 0;
        connectNow();
    });
    connect(&process, &EngineProcess::restarting, this, [this](int attempt, int delayMs, const QString&) {
        m_restartAttempt = attempt;
        m_restartDelayMs = delayMs;
        say([this, attempt, delayMs] { return restartNote(attempt, delayMs); }, true);
        updateState();
    });
    connect(&process, &EngineProcess::failed, this, [this](const QString&) { say([this] { return m_process.failureText(); }, true); });
    connect(&client, &EngineClient::connectionChanged, this, &ConnectPage::updateState);
    connect(m_kind, &QComboBox::currentIndexChanged, m_stack, &QStackedWidget::setCurrentIndex);
    connect(m_kind, &QComboBox::currentIndexChanged, this, &ConnectPage::updateState);
    connect(m_profileCombo, &QComboBox::textActivated, this, &ConnectPage::loadProfile);
    connect(m_save, &QPushButton::clicked, this, &ConnectPage::saveProfile);
    connect(m_delete, &QPushButton::clicked, this, &ConnectPage::deleteProfile);
    connect(m_start, &QPushButton::clicked, this, &ConnectPage::startLocal);
    connect(m_stop, &QPushButton::clicked, &process, &EngineProcess::stop);
    connect(m_restart, &QPushButton::clicked, &process, &EngineProcess::restart);
    connect(m_connect, &QPushButton::clicked, this, &ConnectPage::connectNow);
    m_profileCombo->addItems(profiles.names());
    retranslate();
}

void ConnectPage::retranslate() {
    m_profileBox->setTitle(tr("Engine"));
    m_profileLabel->setText(tr("Profile:"));
    m_save->setText(tr("Save profile"));
    m_delete->setText(tr("Delete profile"));
    m_kindLabel->setText(tr("Kind:"));
    m_kind->setItemText(0, tr("Local engine (started by the console)"));
    m_kind->setItemText(1, tr("Remote engine (TLS)"));
    const char* const localLabels[] = {QT_TR_NOOP("Profile name:"),  QT_TR_NOOP("Engine binary:"),   QT_TR_NOOP("Model directory:"),
                                       QT_TR_NOOP("State directory:"), QT_TR_NOOP("Models to load:"), QT_TR_NOOP("Backend:"),
                                       QT_TR_NOOP("GPUs:"),            QT_TR_NOOP("gRPC socket:"),     QT_TR_NOOP("OpenAI HTTP address:"),
                                       QT_TR_NOOP("gRPC TLS address:"), QT_TR_NOOP("TLS certificate (PEM):"),
                                       QT_TR_NOOP("TLS key (PEM):")};
    for (int i = 0; i < m_localForm->rowCount(); ++i)
        if (auto* item = m_localForm->itemAt(i, QFormLayout::LabelRole))
            if (auto* l = qobject_cast<QLabel*>(item->widget())) l->setText(tr(localLabels[i]));
    const char* const remoteLabels[] = {QT_TR_NOOP("Host:"), QT_TR_NOOP("Port:"), QT_TR_NOOP("CA certificates (PEM):"),
                                        QT_TR_NOOP("Or pinned engine certificate (PEM):"), QT_TR_NOOP("Name in the certificate:")};
    for (int i = 0; i < m_remoteForm->rowCount(); ++i)
        if (auto* item = m_remoteForm->itemAt(i, QFormLayout::LabelRole))
            if (auto* l = qobject_cast<QLabel*>(item->widget())) l->setText(tr(remoteLabels[i]));
    m_models->setPlaceholderText(tr("file names, separated by commas"));
    m_gpus->setPlaceholderText(tr("e.g. 0,1 (empty: all)"));
    m_tls->setPlaceholderText(tr("optional, e.g. 0.0.0.0:4431"));
    m_tlsCert->setPlaceholderText(tr("needed with a TLS address"));
    m_tlsKey->setPlaceholderText(tr("needed with a TLS address"));
    m_serverName->setPlaceholderText(tr("optional: when it differs from the host"));
    m_start->setText(tr("Start engine"));
    m_stop->setText(tr("Stop"));
    m_restart->setText(tr("Restart"));
    m_connect->setText(tr("Connect"));
    m_logBox->setTitle(tr("Engine log"));
    updateState();
}

void ConnectPage::setProfile(const ConnectionProfile& p) {
    m_name->setText(p.name);
    m_kind->setCurrentIndex(p.kind == ConnectionProfile::Kind::Remote ? 1 : 0);
    m_binary->setText(p.engineBinary);
    m_modelDir->setText(p.modelDir);
    m_stateDir->setText(p.stateDir);
    m_models->setText(p.models.join(QStringLiteral(", ")));
    m_backend->setCurrentText(p.backend);
    m_gpus->setText(p.gpus);
    m_socket->setText(p.socketPath);
    m_http->setText(p.httpListen);
    m_tls->setText(p.tlsListen);
    m_tlsCert->setText(p.tlsCertFile);
    m_tlsKey->setText(p.tlsKeyFile);
    m_serverName->setText(p.tlsServerName);
    m_host->setText(p.host);
    m_port->setValue(p.port);
    m_ca->setText(p.caFile);
    m_pinned->setText(p.pinnedCertFile);
    if (m_profileCombo->findText(p.name) < 0 && !p.name.isEmpty()) m_profileCombo->addItem(p.name);
    m_profileCombo->setCurrentText(p.name);
}

ConnectionProfile ConnectPage::profile() const {
    ConnectionProfile p;
    p.name = m_name->text().trimmed();
    p.kind = m_kind->currentIndex() == 1 ? ConnectionProfile::Kind::Remote : ConnectionProfile::Kind::Local;
    p.engineBinary = m_binary->text().trimmed();
    p.modelDir = m_modelDir->text().trimmed();
    p.stateDir = m_stateDir->text().trimmed();
    for (const QString& m : m_models->text().split(QLatin1Char(','), Qt::SkipEmptyParts)) p.models << m.trimmed();
    p.backend = m_backend->currentText();
    p.gpus = m_gpus->text().trimmed();
    p.socketPath = m_socket->text().trimmed();
    p.httpListen = m_http->text().trimmed();
    p.tlsListen = m_tls->text().trimmed();
    p.tlsCertFile = m_tlsCert->text().trimmed();
    p.tlsKeyFile = m_tlsKey->text().trimmed();
    p.tlsServerName = m_serverName->text().trimmed();
    p.host = m_host->text().trimmed();
    p.port = m_port->value();
    p.caFile = m_ca->text().trimmed();
    p.pinnedCertFile = m_pinned->text().trimmed();
    return p;
}

void ConnectPage::loadProfile(const QString& name) {
    setProfile(m_profiles.profile(name));
    m_profiles.setLastUsed(name);
}

void ConnectPage::saveProfile() {
    const ConnectionProfile p = profile();
    if (p.name.isEmpty()) {
        say([=, this] { return tr("Give the profile a name first."); }, true);
        return;
    }
    m_profiles.save(p);
    m_profiles.setLastUsed(p.name);
    if (m_profileCombo->findText(p.name) < 0) m_profileCombo->addItem(p.name);
    say([=, this] { return tr("Saved the profile %1").arg(p.name); }, false);
}

void ConnectPage::deleteProfile() {
    const QString name = m_profileCombo->currentText();
    if (name.isEmpty()) return;
    m_profiles.remove(name);
    m_profileCombo->removeItem(m_profileCombo->currentIndex());
}

void ConnectPage::startLocal() {
    const ConnectionProfile p = profile();
    if (p.kind != ConnectionProfile::Kind::Local) {
        connectNow();
        return;
    }
    m_process.start(p);
}

void ConnectPage::connectNow() {
    QString error;
    const app::EngineTarget target = profile().target(&error);
    if (!error.isEmpty()) {
        say([=, this] { return error; }, true);
        return;
    }
    m_client.setTarget(target);
    emit targetChosen();
    updateState();
}

QString ConnectPage::restartNote(int attempt, int delayMs) const {
    return tr("The engine stopped unexpectedly (%1); restart %2 in %3 s.")
        .arg(m_process.lastExitText())
        .arg(attempt)
        .arg(delayMs / 1000.0, 0, 'f', 1);
}

void ConnectPage::updateState() {
    const bool local = m_kind->currentIndex() == 0;
    const auto state = m_process.state();
    const bool running = state == EngineProcess::State::Starting || state == EngineProcess::State::Ready ||
                         state == EngineProcess::State::Restarting;
    m_start->setVisible(local);
    m_stop->setVisible(local);
    m_restart->setVisible(local);
    m_start->setEnabled(!running);
    m_stop->setEnabled(running);
    m_restart->setEnabled(running);
    QString processText;
    switch (state) {
    case EngineProcess::State::Stopped: processText = tr("Engine stopped."); break;
    case EngineProcess::State::Starting: processText = tr("Engine starting…"); break;
    case EngineProcess::State::Ready: processText = tr("Engine running (process %1).").arg(m_process.pid()); break;
    case EngineProcess::State::Restarting: processText = restartNote(m_restartAttempt, m_restartDelayMs); break;
    case EngineProcess::State::Stopping: processText = tr("Engine stopping…"); break;
    case EngineProcess::State::Failed: processText = tr("The engine could not be started; see the log."); break;
    }
    const QString link = !m_client.hasTarget() ? tr("Not connected.")
                         : m_client.isConnected() ? tr("Connected to %1.").arg(m_client.target().address)
                                                  : tr("Connecting to %1…").arg(m_client.target().address);
    m_state->setText(local ? tr("%1 %2").arg(processText, link) : link);
}

}  // namespace enclave::ui
