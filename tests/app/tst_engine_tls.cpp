// Remote profiles are TLS only, and EngineClient refuses an engine it cannot trust: a real engine serves
// gRPC on 127.0.0.1 with a self-signed certificate (SAN localhost, 127.0.0.1); the client connects with
// that certificate as its CA (works), with another CA (refused, readably), with a host name the
// certificate does not carry (refused) and with a pinned certificate that is not the engine's (refused).
#include <QFileInfo>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "app/connection_profile.h"
#include "app/engine_client.h"
#include "app/engine_process.h"

using namespace enclave::app;

class TstEngineTls : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    EngineProcess* m_process = nullptr;
    int m_port = 0;

    template <class F>
    bool waitFor(F f, int ms) {
        QDeadlineTimer deadline(ms);
        while (!f() && !deadline.hasExpired()) QTest::qWait(20);
        return f();
    }

    bool selfSigned(const QString& name, const QString& san) {
        QProcess openssl;
        openssl.start(QStringLiteral("openssl"),
                      {QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"), QStringLiteral("rsa:2048"),
                       QStringLiteral("-nodes"), QStringLiteral("-keyout"), m_dir.filePath(name + QStringLiteral(".key")),
                       QStringLiteral("-out"), m_dir.filePath(name + QStringLiteral(".crt")), QStringLiteral("-days"),
                       QStringLiteral("1"), QStringLiteral("-subj"), QStringLiteral("/CN=") + name, QStringLiteral("-addext"),
                       QStringLiteral("subjectAltName=") + san});
        return openssl.waitForFinished(60000) && openssl.exitCode() == 0;
    }

    ConnectionProfile remote() const {
        ConnectionProfile p;
        p.name = QStringLiteral("remote");
        p.kind = ConnectionProfile::Kind::Remote;
        p.host = QStringLiteral("127.0.0.1");
        p.port = m_port;
        return p;
    }

    // Health.Check through the profile's target: an empty error when it answered.
    std::optional<EngineError> check(const ConnectionProfile& p) {
        QString profileError;
        const EngineTarget t = p.target(&profileError);
        if (!profileError.isEmpty()) return EngineError{-1, QStringLiteral("profile"), profileError};
        EngineClient client;
        client.setTarget(t);
        bool done = false;
        std::optional<EngineError> error;
        client.call("Health.Check", &enclave::v1::Health::Stub::Check, enclave::v1::HealthRequest{}, this,
                    [&](const enclave::v1::HealthReply&) { done = true; },
                    [&](const EngineError& e) {
                        error = e;
                        done = true;
                    },
                    15000);
        waitFor([&] { return done; }, 20000);
        return error;
    }

private slots:
    void initTestCase() {
        const QString engine = qEnvironmentVariable("ENCLAVE_ENGINE");
        const QString model = qEnvironmentVariable("ENCLAVE_DEFAULT_MODEL");
        QVERIFY2(QFileInfo(engine).isExecutable(), qPrintable(engine));
        QVERIFY2(QFileInfo::exists(model), qPrintable(model));
        QVERIFY(selfSigned(QStringLiteral("engine"), QStringLiteral("DNS:localhost,IP:127.0.0.1")));
        QVERIFY(selfSigned(QStringLiteral("other"), QStringLiteral("DNS:localhost,IP:127.0.0.1")));
        ConnectionProfile p = ConnectionProfile::defaultLocal(engine);
        p.modelDir = QFileInfo(model).absolutePath();
        p.models = {QFileInfo(model).fileName()};
        p.stateDir = m_dir.filePath(QStringLiteral("state"));
        p.socketPath = m_dir.filePath(QStringLiteral("engine.sock"));
        p.threads = 1;
        p.tlsListen = QStringLiteral("127.0.0.1:0");
        p.tlsCertFile = m_dir.filePath(QStringLiteral("engine.crt"));
        p.tlsKeyFile = m_dir.filePath(QStringLiteral("engine.key"));
        m_process = new EngineProcess(this);
        QSignalSpy ready(m_process, &EngineProcess::ready);
        m_process->start(p);
        QVERIFY2(ready.wait(120000), qPrintable(m_process->log().join(QLatin1Char('\n'))));
        QVERIFY(m_process->arguments().contains(QStringLiteral("--tls-cert")));
        const auto m = QRegularExpression(QStringLiteral("gRPC\\+TLS on 127\\.0\\.0\\.1:(\\d+)")).match(m_process->readyLine());
        QVERIFY2(m.hasMatch(), qPrintable(m_process->readyLine()));
        m_port = m.captured(1).toInt();
    }

    void rightCaWorks() {
        ConnectionProfile p = remote();
        p.caFile = m_dir.filePath(QStringLiteral("engine.crt"));
        const auto error = check(p);
        QVERIFY2(!error, error ? qPrintable(error->text()) : "");
        p.host = QStringLiteral("localhost");  // the other name in the certificate
        QVERIFY(!check(p));
    }

    void pinnedCertificateWorks() {
        ConnectionProfile p = remote();
        p.pinnedCertFile = m_dir.filePath(QStringLiteral("engine.crt"));
        p.caFile = m_dir.filePath(QStringLiteral("other.crt"));  // the pin wins over a CA file
        QVERIFY(!check(p));
    }

    void otherCaIsRefused() {
        ConnectionProfile p = remote();
        p.caFile = m_dir.filePath(QStringLiteral("other.crt"));
        const auto error = check(p);
        QVERIFY2(error, "an engine whose certificate the CA did not sign was trusted");
        QVERIFY2(error->isUnavailable() && error->isTlsFailure(), qPrintable(error->text()));
        QVERIFY2(error->text().contains(QStringLiteral("TLS certificate was refused")), qPrintable(error->text()));
        qInfo("as the user reads it: %s", qPrintable(error->text()));
    }

    void wrongHostNameIsRefused() {
        ConnectionProfile p = remote();
        p.caFile = m_dir.filePath(QStringLiteral("engine.crt"));
        p.tlsServerName = QStringLiteral("engine.example.org");  // not in the certificate's subjectAltName
        const auto error = check(p);
        QVERIFY2(error, "a certificate for another host name was accepted");
        QVERIFY2(error->isTlsFailure(), qPrintable(error->text()));
        qInfo("as the user reads it: %s", qPrintable(error->text()));
    }

    void pinnedMismatchIsRefused() {
        ConnectionProfile p = remote();
        p.pinnedCertFile = m_dir.filePath(QStringLiteral("other.crt"));
        const auto error = check(p);
        QVERIFY2(error, "an engine with another certificate than the pinned one was trusted");
        QVERIFY2(error->isTlsFailure(), qPrintable(error->text()));
    }

    void noTrustAnchorIsNoConnection() {
        // A remote profile without a CA or pin is refused before any connection; so is a TCP target without TLS.
        QString error;
        const EngineTarget t = remote().target(&error);
        QVERIFY(!t.isValid());
        QVERIFY(error.contains(QStringLiteral("CA certificate file or its pinned certificate")));
        EngineTarget plain;
        plain.address = QStringLiteral("127.0.0.1:%1").arg(m_port);
        QVERIFY(!plain.isValid());
        EngineClient client;
        client.setTarget(plain);
        QVERIFY(!client.hasTarget());
        ConnectionProfile notPem = remote();
        notPem.caFile = m_dir.filePath(QStringLiteral("engine.key"));
        error.clear();
        QVERIFY(!notPem.target(&error).isValid());
        QVERIFY(error.contains(QStringLiteral("no PEM certificate")));
    }

    void cleanupTestCase() { delete m_process; }
};

QTEST_GUILESS_MAIN(TstEngineTls)
#include "tst_engine_tls.moc"
