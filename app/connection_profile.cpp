#include "app/connection_profile.h"

#include <unistd.h>  // defines: getuid

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QStandardPaths>

namespace enclave::app {

ConnectionProfile ConnectionProfile::defaultLocal(const QString& engineBinary) {
    ConnectionProfile p;
    p.name = QStringLiteral("local");
    p.kind = Kind::Local;
    p.engineBinary = engineBinary;
    const QString data = QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation);
    p.modelDir = qEnvironmentVariable("ENCLAVE_MODEL_DIR", data + QStringLiteral("/enclave/models"));
    // The same default as `enclave-engine serve` and its user/key/audit commands: $XDG_STATE_HOME/enclave,
    // else ~/.local/state/enclave.
    const QString state = qEnvironmentVariable("XDG_STATE_HOME");
    p.stateDir = (state.isEmpty() ? QDir::homePath() + QStringLiteral("/.local/state") : state) + QStringLiteral("/enclave");
    const QString runtime = qEnvironmentVariable("XDG_RUNTIME_DIR");
    p.socketPath = runtime.isEmpty() ? QStringLiteral("/tmp/enclave-%1/console.sock").arg(::getuid())
                                     : runtime + QStringLiteral("/enclave/console.sock");
    return p;
}

EngineTarget ConnectionProfile::target(QString* error) const {
    EngineTarget t;
    if (kind == Kind::Local) {
        t.address = QStringLiteral("unix:") + socketPath;
        return t;
    }
    t.address = QStringLiteral("%1:%2").arg(host).arg(port);
    t.tls = true;
    t.serverName = tlsServerName;
    const QString file = pinnedCertFile.isEmpty() ? caFile : pinnedCertFile;
    if (file.isEmpty()) {
        if (error)
            *error = QCoreApplication::translate("ConnectionProfile",
                                                 "A remote engine needs a CA certificate file or its pinned certificate: "
                                                 "the console does not trust the system's CAs for it.");
        return {};
    }
    QFile f(file);
    if (!f.open(QIODevice::ReadOnly)) {
        if (error) *error = QCoreApplication::translate("ConnectionProfile", "Cannot read the certificate file %1: %2").arg(file, f.errorString());
        return {};
    }
    t.rootCertsPem = f.readAll();
    if (!t.rootCertsPem.contains("-----BEGIN CERTIFICATE-----")) {
        if (error) *error = QCoreApplication::translate("ConnectionProfile", "%1 holds no PEM certificate.").arg(file);
        return {};
    }
    return t;
}

void ConnectionProfile::save(QSettings& s) const {
    s.beginGroup(QStringLiteral("profiles/") + name);
    s.setValue("kind", kind == Kind::Local ? "local" : "remote");
    s.setValue("engineBinary", engineBinary);
    s.setValue("modelDir", modelDir);
    s.setValue("stateDir", stateDir);
    s.setValue("models", models);
    s.setValue("backend", backend);
    s.setValue("gpus", gpus);
    s.setValue("socketPath", socketPath);
    s.setValue("httpListen", httpListen);
    s.setValue("tlsListen", tlsListen);
    s.setValue("tlsCertFile", tlsCertFile);
    s.setValue("tlsKeyFile", tlsKeyFile);
    s.setValue("tlsServerName", tlsServerName);
    s.setValue("threads", threads);
    s.setValue("host", host);
    s.setValue("port", port);
    s.setValue("caFile", caFile);
    s.setValue("pinnedCertFile", pinnedCertFile);
    s.endGroup();
}

ConnectionProfile ConnectionProfile::load(QSettings& s, const QString& name) {
    ConnectionProfile p;
    p.name = name;
    s.beginGroup(QStringLiteral("profiles/") + name);
    p.kind = s.value("kind").toString() == QLatin1String("remote") ? Kind::Remote : Kind::Local;
    p.engineBinary = s.value("engineBinary").toString();
    p.modelDir = s.value("modelDir").toString();
    p.stateDir = s.value("stateDir").toString();
    p.models = s.value("models").toStringList();
    p.backend = s.value("backend", p.backend).toString();
    p.gpus = s.value("gpus").toString();
    p.socketPath = s.value("socketPath").toString();
    p.httpListen = s.value("httpListen", p.httpListen).toString();
    p.tlsListen = s.value("tlsListen").toString();
    p.tlsCertFile = s.value("tlsCertFile").toString();
    p.tlsKeyFile = s.value("tlsKeyFile").toString();
    p.tlsServerName = s.value("tlsServerName").toString();
    p.threads = s.value("threads", 0).toInt();
    p.host = s.value("host").toString();
    p.port = s.value("port", p.port).toInt();
    p.caFile = s.value("caFile").toString();
    p.pinnedCertFile = s.value("pinnedCertFile").toString();
    s.endGroup();
    return p;
}

QStringList ProfileStore::names() const {
    m_settings.beginGroup(QStringLiteral("profiles"));
    QStringList n = m_settings.childGroups();
    m_settings.endGroup();
    return n;
}

ConnectionProfile ProfileStore::profile(const QString& name) const { return ConnectionProfile::load(m_settings, name); }
void ProfileStore::save(const ConnectionProfile& profile) { profile.save(m_settings); }
void ProfileStore::remove(const QString& name) { m_settings.remove(QStringLiteral("profiles/") + name); }
QString ProfileStore::lastUsed() const { return m_settings.value(QStringLiteral("lastProfile")).toString(); }
void ProfileStore::setLastUsed(const QString& name) { m_settings.setValue(QStringLiteral("lastProfile"), name); }

}  // namespace enclave::app
