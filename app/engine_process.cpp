#include "app/engine_process.h"

#include <QDir>
#include <QFileInfo>
#include <QRegularExpression>

#ifdef Q_OS_LINUX
#include <sys/prctl.h>  // defines: prctl, PR_SET_PDEATHSIG

#include <csignal>  // defines: SIGTERM
#endif

namespace enclave::app {
namespace {
constexpr int kLogLines = 5000;
constexpr int kMaxFailuresBeforeReady = 5;
constexpr qint64 kStableMs = 60000;  // a run this long resets the backoff
const QByteArray kReadyPrefix = "enclave-engine ready:";
}  // namespace

EngineProcess::EngineProcess(QObject* parent) : QObject(parent) {
    m_restartTimer.setSingleShot(true);
    connect(&m_restartTimer, &QTimer::timeout, this, &EngineProcess::launch);
    m_killTimer.setSingleShot(true);
    connect(&m_killTimer, &QTimer::timeout, this, [this] {
        if (m_process) m_process->kill();
    });
}

EngineProcess::~EngineProcess() {
    m_restartTimer.stop();
    if (m_process) {
        m_process->disconnect(this);
        m_process->terminate();
        if (!m_process->waitForFinished(5000)) {
            m_process->kill();
            m_process->waitForFinished(2000);
        }
    }
}

int EngineProcess::backoffMs(int attempt) {
    const int shift = std::clamp(attempt - 1, 0, 6);
    return std::min(500 << shift, 30000);
}

void EngineProcess::start(const ConnectionProfile& profile) {
    if (m_process) {  // already running: a start is a restart with the new settings
        m_profile = profile;
        restart();
        return;
    }
    m_profile = profile;
    m_failure = Failure::None;
    m_consecutive = 0;
    m_failuresBeforeReady = 0;
    m_stopping = false;
    launch();
}

void EngineProcess::stop() {
    m_restartTimer.stop();
    m_restartAfterStop = false;
    if (!m_process) {
        setState(State::Stopped);
        return;
    }
    m_stopping = true;
    setState(State::Stopping);
    append(tr("Stopping the engine (SIGTERM)."));
    m_process->terminate();
    m_killTimer.start(5000);
}

void EngineProcess::restart() {
    if (!m_process) {
        start(m_profile);
        return;
    }
    stop();
    m_restartAfterStop = true;
}

QSet<QString> EngineProcess::probeFlags(QString* error) const {
    QProcess help;
    help.start(m_profile.engineBinary, {QStringLiteral("serve"), QStringLiteral("--help")});
    if (!help.waitForFinished(10000) || help.exitStatus() != QProcess::NormalExit || help.exitCode() != 0) {
        *error = help.errorString();
        return {};
    }
    QSet<QString> flags;
    static const QRegularExpression flag(QStringLiteral("^\\s+--([a-z0-9-]+)"), QRegularExpression::MultilineOption);
    auto it = flag.globalMatch(QString::fromUtf8(help.readAllStandardOutput()));
    while (it.hasNext()) flags.insert(it.next().captured(1));
    return flags;
}

QStringList EngineProcess::buildArguments(const QSet<QString>& flags) {
    QStringList args{QStringLiteral("serve")};
    const auto add = [&](const QString& flag, const QString& value) {
        if (value.isEmpty()) return;
        if (!flags.contains(flag)) {
            append(tr("This engine has no --%1 flag; the profile's setting (%2) is left out.").arg(flag, value));
            return;
        }
        args << QStringLiteral("--") + flag << value;
    };
    add(QStringLiteral("model-dir"), m_profile.modelDir);
    add(QStringLiteral("state-dir"), m_profile.stateDir);
    if (flags.contains(QStringLiteral("load"))) {
        for (const QString& m : m_profile.models) args << QStringLiteral("--load") << m;
    } else if (!m_profile.models.isEmpty()) {
        add(QStringLiteral("model"), m_profile.models.first());  // older engines serve one model
    }
    add(QStringLiteral("backend"), m_profile.backend);
    add(QStringLiteral("socket"), m_profile.socketPath);
    add(QStringLiteral("http"), m_profile.httpListen);
    add(QStringLiteral("listen"), m_profile.tlsListen);
    if (!m_profile.tlsListen.isEmpty()) {
        add(QStringLiteral("tls-cert"), m_profile.tlsCertFile);
        add(QStringLiteral("tls-key"), m_profile.tlsKeyFile);
    }
    if (m_profile.threads > 0) add(QStringLiteral("threads"), QString::number(m_profile.threads));
    return args;
}

void EngineProcess::launch() {
    if (m_profile.engineBinary.isEmpty() || !QFileInfo(m_profile.engineBinary).isExecutable()) {
        m_failure = Failure::NoBinary;
        const QString why = failureText();
        append(why);
        setState(State::Failed);
        emit failed(why);
        return;
    }
    QString probeError;
    const QSet<QString> flags = probeFlags(&probeError);
    if (flags.isEmpty()) {
        m_failure = Failure::Probe;
        m_probeError = probeError;
        const QString why = failureText();
        append(why);
        setState(State::Failed);
        emit failed(why);
        return;
    }
    m_args = buildArguments(flags);
    m_readyLine.clear();
    m_partial[0].clear();
    m_partial[1].clear();
    m_process = new QProcess(this);
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    if (!m_profile.gpus.isEmpty()) env.insert(QStringLiteral("CUDA_VISIBLE_DEVICES"), m_profile.gpus);
    m_process->setProcessEnvironment(env);
    if (!m_profile.stateDir.isEmpty()) QDir().mkpath(m_profile.stateDir);
    if (!m_profile.stateDir.isEmpty()) m_process->setWorkingDirectory(m_profile.stateDir);
#ifdef Q_OS_LINUX
    // The engine is this console's child: when the console goes away without stopping it (killed,
    // crashed), the engine gets SIGTERM and shuts down cleanly instead of serving on unsupervised and
    // holding the socket the next console would start an engine on. (A server's engine runs under
    // systemd, not under a console.) Runs in the child between fork and exec: async-signal-safe only.
    m_process->setChildProcessModifier([] { ::prctl(PR_SET_PDEATHSIG, SIGTERM); });
#endif
    connect(m_process, &QProcess::readyReadStandardOutput, this, [this] { onReadable(QProcess::StandardOutput); });
    connect(m_process, &QProcess::readyReadStandardError, this, [this] { onReadable(QProcess::StandardError); });
    connect(m_process, &QProcess::finished, this, &EngineProcess::onFinished);
    connect(m_process, &QProcess::errorOccurred, this, &EngineProcess::onError);
    append(tr("Starting: %1 %2").arg(m_profile.engineBinary, m_args.join(QLatin1Char(' '))));
    setState(State::Starting);
    m_process->start(m_profile.engineBinary, m_args);
}

void EngineProcess::onReadable(QProcess::ProcessChannel channel) {
    if (!m_process) return;
    m_process->setReadChannel(channel);
    QByteArray& buf = m_partial[channel == QProcess::StandardOutput ? 0 : 1];
    buf += m_process->readAll();
    qsizetype nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
        const QByteArray line = buf.left(nl);
        buf.remove(0, nl + 1);
        append(QString::fromUtf8(line));
        if (line.startsWith(kReadyPrefix) && m_state == State::Starting) {
            m_readyLine = QString::fromUtf8(line);
            m_readySince.start();
            m_failuresBeforeReady = 0;
            setState(State::Ready);
            emit ready(m_readyLine);
        }
    }
}

void EngineProcess::onError(QProcess::ProcessError error) {
    if (error == QProcess::FailedToStart) {
        append(tr("The engine could not be started: %1").arg(m_process->errorString()));
        onFinished(-1, QProcess::CrashExit);
    }
}

void EngineProcess::onFinished(int exitCode, QProcess::ExitStatus status) {
    if (!m_process) return;
    onReadable(QProcess::StandardOutput);
    onReadable(QProcess::StandardError);
    m_killTimer.stop();
    const bool wasReady = m_state == State::Ready;
    m_process->deleteLater();
    m_process = nullptr;
    if (m_stopping) {
        m_stopping = false;
        append(tr("The engine stopped."));
        setState(State::Stopped);
        if (m_restartAfterStop) {
            m_restartAfterStop = false;
            m_consecutive = 0;
            m_failuresBeforeReady = 0;
            launch();
        }
        return;
    }
    m_lastCrashed = status == QProcess::CrashExit;
    m_lastExitCode = exitCode;
    const QString reason = lastExitText();
    if (wasReady && m_readySince.isValid() && m_readySince.elapsed() > kStableMs) m_consecutive = 0;
    if (!wasReady && ++m_failuresBeforeReady >= kMaxFailuresBeforeReady) {
        m_failure = Failure::EarlyDeaths;
        const QString why = failureText();
        append(why);
        setState(State::Failed);
        emit failed(why);
        return;
    }
    ++m_consecutive;
    ++m_restarts;
    const int delay = backoffMs(m_consecutive);
    append(tr("Unexpected stop: %1. Restarting in %2 s.").arg(reason).arg(delay / 1000.0, 0, 'f', 1));
    setState(State::Restarting);
    emit restarting(m_consecutive, delay, reason);
    m_restartTimer.start(delay);
}

QString EngineProcess::lastExitText() const {
    return m_lastCrashed ? tr("the engine crashed or was killed") : tr("the engine exited with code %1").arg(m_lastExitCode);
}

QString EngineProcess::failureText() const {
    switch (m_failure) {
    case Failure::None: return {};
    case Failure::NoBinary: return tr("The engine binary %1 does not exist or is not executable.").arg(m_profile.engineBinary);
    case Failure::Probe: return tr("%1 serve --help failed: %2").arg(m_profile.engineBinary, m_probeError);
    case Failure::EarlyDeaths:
        return tr("The engine failed %1 times before becoming ready (%2); not restarting it. See the log.")
            .arg(kMaxFailuresBeforeReady)
            .arg(lastExitText());
    }
    return {};
}

void EngineProcess::setState(State s) {
    if (m_state == s) return;
    m_state = s;
    emit stateChanged(s);
}

void EngineProcess::append(const QString& line) {
    m_log.append(line);
    if (m_log.size() > kLogLines) m_log.remove(0, m_log.size() - kLogLines);
    emit logLine(line);
}

}  // namespace enclave::app
