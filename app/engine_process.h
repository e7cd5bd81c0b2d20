// EngineProcess: supervises a local `enclave-engine serve` child for the console.
//
// It starts the engine with a local profile's settings, keeps its log (stdout and stderr, last 5,000
// lines), reports ready when the engine prints its "enclave-engine ready:" line, and restarts it with
// exponential backoff (0.5 s doubling to 30 s) when it dies unasked, saying so through restarting().
// Five deaths in a row before ever becoming ready (a bad flag, an unreadable model) stop the retries: the
// state becomes Failed and the last log lines say why. stop() and restart() are on demand.
//
// Flags: the engine's command line grows while the console does not; start() asks `serve --help` once
// which flags this binary accepts and leaves out (and logs) profile settings it cannot take.
//
// Threads: GUI thread only (QProcess).
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QProcess>
#include <QSet>
#include <QStringList>
#include <QTimer>

#include "app/connection_profile.h"

namespace enclave::app {

class EngineProcess : public QObject {
    Q_OBJECT
public:
    enum class State { Stopped, Starting, Ready, Restarting, Stopping, Failed };
    Q_ENUM(State)

    explicit EngineProcess(QObject* parent = nullptr);
    // Stops the child (SIGTERM, then SIGKILL after 5 s). On Linux the child also gets SIGTERM when the
    // console dies without running this (PR_SET_PDEATHSIG).
    ~EngineProcess() override;

    void start(const ConnectionProfile& profile);
    void stop();
    void restart();

    State state() const { return m_state; }
    qint64 pid() const { return m_process ? m_process->processId() : 0; }
    QStringList log() const { return m_log; }
    QString readyLine() const { return m_readyLine; }
    int restarts() const { return m_restarts; }
    // The command line used for the last start (for the log view and tests).
    QStringList arguments() const { return m_args; }
    // Backoff before the n-th consecutive restart (n from 1), in ms.
    static int backoffMs(int attempt);
    // Why the engine last stopped unasked, and why it is not restarted (State::Failed), translated when
    // called: the UI calls them again after a language switch instead of keeping the signals' strings.
    QString lastExitText() const;
    QString failureText() const;

signals:
    void stateChanged(enclave::app::EngineProcess::State state);
    void logLine(const QString& line);
    void ready(const QString& readyLine);
    // The engine died unasked; it is started again in delayMs.
    void restarting(int attempt, int delayMs, const QString& reason);
    void failed(const QString& reason);

private:
    void launch();
    void onReadable(QProcess::ProcessChannel channel);
    void onFinished(int exitCode, QProcess::ExitStatus status);
    void onError(QProcess::ProcessError error);
    void setState(State s);
    void append(const QString& line);
    QSet<QString> probeFlags(QString* error) const;
    QStringList buildArguments(const QSet<QString>& flags);

    enum class Failure { None, NoBinary, Probe, EarlyDeaths };
    Failure m_failure = Failure::None;
    QString m_probeError;
    bool m_lastCrashed = false;
    int m_lastExitCode = 0;
    ConnectionProfile m_profile;
    QProcess* m_process = nullptr;
    State m_state = State::Stopped;
    QStringList m_log;
    QStringList m_args;
    QString m_readyLine;
    QByteArray m_partial[2];
    QTimer m_restartTimer;
    QTimer m_killTimer;
    QElapsedTimer m_readySince;
    int m_consecutive = 0;  // deaths since the last stable run
    int m_failuresBeforeReady = 0;
    int m_restarts = 0;
    bool m_stopping = false;
    bool m_restartAfterStop = false;
};

}  // namespace enclave::app
