// ConnectionProfile: how the console reaches one engine, saved in QSettings under "profiles/<name>".
// A local profile describes an engine the console starts and supervises (EngineProcess); a remote one an
// engine elsewhere, reached over TCP with TLS only (a CA file, or the engine's own certificate pinned).
#pragma once

#include <QSettings>
#include <QString>
#include <QStringList>

#include "app/engine_client.h"

namespace enclave::app {

struct ConnectionProfile {
    enum class Kind { Local, Remote };

    QString name;
    Kind kind = Kind::Local;
    // Local engine
    QString engineBinary;   // enclave-engine
    QString modelDir;       // the engine's model directory
    QString stateDir;       // users, audit log, conversations
    QStringList models;     // loaded at start (file names in modelDir)
    QString backend = QStringLiteral("cpu");  // cpu or cuda
    QString gpus;           // CUDA_VISIBLE_DEVICES for the child, e.g. "0,1"; empty: all
    QString socketPath;     // gRPC Unix socket
    QString httpListen = QStringLiteral("127.0.0.1:0");  // OpenAI HTTP; port 0: the engine picks one
    QString tlsListen;      // optional gRPC+TLS HOST:PORT for other consoles
    QString tlsCertFile;    // its PEM certificate chain and key (needed with tlsListen)
    QString tlsKeyFile;
    int threads = 0;        // 0: the engine's default
    // Remote engine
    QString host;
    int port = 4431;
    QString caFile;         // PEM CA bundle, or
    QString pinnedCertFile; // the engine's own certificate: trust exactly it
    QString tlsServerName;  // the name in the engine's certificate, when not the host (optional)

    // Defaults for a new local profile: the binary beside the console, XDG directories.
    static ConnectionProfile defaultLocal(const QString& engineBinary);
    // The client target; for remote profiles reads the certificate file (error says which one failed, or
    // that there is none: a remote profile needs a CA file or a pinned certificate).
    EngineTarget target(QString* error) const;

    void save(QSettings& settings) const;
    static ConnectionProfile load(QSettings& settings, const QString& name);
};

// The saved profiles; not a singleton: main() owns one over its QSettings.
class ProfileStore {
public:
    explicit ProfileStore(QSettings& settings) : m_settings(settings) {}
    QStringList names() const;
    ConnectionProfile profile(const QString& name) const;
    void save(const ConnectionProfile& profile);
    void remove(const QString& name);
    QString lastUsed() const;
    void setLastUsed(const QString& name);

private:
    QSettings& m_settings;
};

}  // namespace enclave::app
