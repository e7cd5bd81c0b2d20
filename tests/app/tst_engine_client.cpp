// EngineClient and EngineProcess against a real `enclave-engine serve` with the default model: start and
// ready line, the first admin with the bootstrap secret and a login, list models, stream a chat, cancel a
// stream, readable errors, and kill -9: the supervisor restarts the engine and the client reconnects by
// itself with the same session.
#include <signal.h>

#include <QFileInfo>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "app/engine_client.h"
#include "app/engine_process.h"
#include "app/session.h"

using namespace enclave::app;

class TstEngineClient : public QObject {
    Q_OBJECT
    QTemporaryDir m_dir;
    EngineProcess* m_process = nullptr;
    EngineClient* m_client = nullptr;

    template <class F>
    bool waitFor(F f, int ms) {
        QDeadlineTimer deadline(ms);
        while (!f() && !deadline.hasExpired()) QTest::qWait(20);
        return f();
    }

private slots:
    void initTestCase() {
        const QString engine = qEnvironmentVariable("ENCLAVE_ENGINE");
        const QString model = qEnvironmentVariable("ENCLAVE_DEFAULT_MODEL");
        QVERIFY2(QFileInfo(engine).isExecutable(), qPrintable(QStringLiteral("no engine binary at '%1'").arg(engine)));
        QVERIFY2(QFileInfo::exists(model), qPrintable(QStringLiteral("no default model at '%1'").arg(model)));
        QVERIFY(m_dir.isValid());
        ConnectionProfile p = ConnectionProfile::defaultLocal(engine);
        p.modelDir = QFileInfo(model).absolutePath();
        p.models = {QFileInfo(model).fileName()};
        p.stateDir = m_dir.filePath(QStringLiteral("state"));
        p.socketPath = m_dir.filePath(QStringLiteral("engine.sock"));
        p.threads = 2;
        m_process = new EngineProcess(this);
        QSignalSpy ready(m_process, &EngineProcess::ready);
        m_process->start(p);
        QVERIFY2(ready.wait(120000), qPrintable(m_process->log().join(QLatin1Char('\n'))));
        QVERIFY(m_process->readyLine().startsWith(QLatin1String("enclave-engine ready:")));
        QCOMPARE(m_process->state(), EngineProcess::State::Ready);
        m_client = new EngineClient(this);
        m_client->setPollInterval(300);
        QString error;
        m_client->setTarget(p.target(&error));
        QVERIFY(error.isEmpty());
        QVERIFY(waitFor([&] { return m_client->isConnected(); }, 10000));
    }

    void login() {
        Session session(*m_client);
        QSignalSpy bootstrap(&session, &Session::needsBootstrap);
        QSignalSpy login(&session, &Session::needsLogin);
        QSignalSpy signedIn(&session, &Session::signedIn);
        QSignalSpy failed(&session, &Session::failed);
        session.probe();
        QVERIFY(waitFor([&] { return bootstrap.size() + login.size() + signedIn.size() + failed.size() > 0; }, 10000));
        QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().first().value<EngineError>().text()));
        QVERIFY2(bootstrap.size() == 1, "a fresh state directory needs its first admin");
        QFile secret(bootstrap.first().first().toString());
        QVERIFY2(secret.open(QIODevice::ReadOnly), qPrintable(secret.fileName()));
        session.bootstrap(QString::fromUtf8(secret.readAll()), QStringLiteral("admin"), QStringLiteral("Correct-Horse-Battery-Staple-9"));
        QVERIFY(waitFor([&] { return signedIn.size() + failed.size() > 0; }, 20000));
        QVERIFY2(failed.isEmpty(), failed.isEmpty() ? "" : qPrintable(failed.first().first().value<EngineError>().text()));
        QCOMPARE(session.role(), Session::Role::Admin);
        QVERIFY(!m_client->sessionToken().isEmpty());
        // A bad token is UNAUTHENTICATED and must surface as sessionExpired.
        QSignalSpy expired(m_client, &EngineClient::sessionExpired);
        const QString good = m_client->sessionToken();
        m_client->setSessionToken(QStringLiteral("not-a-token"));
        m_client->call("Auth.WhoAmI", &v1::Auth::Stub::WhoAmI, v1::WhoAmIRequest{}, this, [](const v1::WhoAmIReply&) {},
                       [](const EngineError&) {});
        QVERIFY(expired.wait(10000));
        m_client->setSessionToken(good);
        // The same account signs in again with its password (a new token each time).
        Session again(*m_client);
        QSignalSpy againIn(&again, &Session::signedIn);
        again.login(QStringLiteral("admin"), QStringLiteral("Correct-Horse-Battery-Staple-9"));
        QVERIFY(againIn.wait(20000));
        QVERIFY(m_client->sessionToken() != good);
        QCOMPARE(again.role(), Session::Role::Admin);
    }

    void listModels() {
        std::optional<v1::ListModelsReply> reply;
        m_client->call("Models.ListModels", &v1::Models::Stub::ListModels, v1::ListModelsRequest{}, this,
                       [&](const v1::ListModelsReply& r) { reply = r; }, [](const EngineError& e) { QFAIL(qPrintable(e.text())); });
        QVERIFY(waitFor([&] { return reply.has_value(); }, 10000));
        QCOMPARE(reply->models_size(), 1);
        QCOMPARE(reply->models(0).architecture(), std::string("llama"));
    }

    void streamChat() {
        v1::GenerateRequest req;
        auto* m = req.mutable_chat()->add_messages();
        m->set_role("user");
        m->set_content("Say hello.");
        req.mutable_sampling()->set_max_tokens(16);
        req.mutable_sampling()->set_temperature(0);
        QString text;
        int tokens = 0;
        std::optional<v1::Finished> finished;
        bool done = false;
        const EngineError* failure = nullptr;
        EngineError copy;
        m_client->stream("Generation.Generate", &v1::Generation::Stub::Generate, req, this,
                         [&](const v1::GenerateEvent& e) {
                             if (e.has_token()) {
                                 ++tokens;
                                 text += QString::fromStdString(e.token().text());
                             }
                             if (e.has_finished()) finished = e.finished();
                         },
                         [&](const EngineError* e) {
                             done = true;
                             if (e) {
                                 copy = *e;
                                 failure = &copy;
                             }
                         });
        QVERIFY(waitFor([&] { return done; }, 60000));
        QVERIFY2(!failure, failure ? qPrintable(failure->text()) : "");
        QVERIFY(finished.has_value());
        QVERIFY(tokens > 0);
        QCOMPARE(finished->generated_tokens(), int64_t(tokens));
        QVERIFY(!text.trimmed().isEmpty());
    }

    void cancelStream() {
        v1::GenerateRequest req;
        req.set_prompt("Once upon a time");
        req.mutable_sampling()->set_max_tokens(2000);
        int tokens = 0;
        bool done = false;
        EngineError error;
        Stream s = m_client->stream("Generation.Generate", &v1::Generation::Stub::Generate, req, this,
                                    [&](const v1::GenerateEvent& e) { tokens += e.has_token(); },
                                    [&](const EngineError* e) {
                                        done = true;
                                        if (e) error = *e;
                                    });
        QVERIFY(waitFor([&] { return tokens >= 2; }, 60000));
        s->cancel();
        QVERIFY(waitFor([&] { return done; }, 10000));
        QVERIFY2(error.isCancelled(), qPrintable(error.text()));
        QVERIFY(tokens < 2000);
        QVERIFY(s->finished());
    }

    void errorsAreReadable() {
        // Without a session the engine refuses; the error names the call and says why in words.
        const QString token = m_client->sessionToken();
        m_client->setSessionToken({});
        bool done = false;
        EngineError error;
        m_client->call("Users.ListUsers", &enclave::v1::Users::Stub::ListUsers, v1::ListUsersRequest{}, this,
                       [&](const v1::ListUsersReply&) { done = true; }, [&](const EngineError& e) {
                           error = e;
                           done = true;
                       });
        QVERIFY(waitFor([&] { return done; }, 10000));
        m_client->setSessionToken(token);
        QVERIFY(error.isUnauthenticated());
        QVERIFY2(error.text().startsWith(QStringLiteral("Users.ListUsers: the session is missing or has expired")), qPrintable(error.text()));
        QVERIFY(!error.message.isEmpty());
        QVERIFY(error.text().endsWith(QStringLiteral("(%1)").arg(error.message)));
        // A record that does not exist, in words.
        done = false;
        v1::DeleteUserRequest del;
        del.set_id(987654);
        m_client->call("Users.DeleteUser", &enclave::v1::Users::Stub::DeleteUser, del, this,
                       [&](const v1::DeleteUserReply&) { done = true; }, [&](const EngineError& e) {
                           error = e;
                           done = true;
                       });
        QVERIFY(waitFor([&] { return done; }, 10000));
        // (The engine answers INVALID_ARGUMENT for an unknown id; the message names it.)
        QVERIFY2(error.code == grpc::StatusCode::INVALID_ARGUMENT || error.code == grpc::StatusCode::NOT_FOUND, qPrintable(error.text()));
        QVERIFY2(error.message.contains(QStringLiteral("987654")), qPrintable(error.text()));
        QVERIFY(error.summary().startsWith(QStringLiteral("Users.DeleteUser: ")));
    }

    void killedEngineIsRestartedAndReconnected() {
        const qint64 pid = m_process->pid();
        QVERIFY(pid > 0);
        QSignalSpy restarting(m_process, &EngineProcess::restarting);
        QSignalSpy ready(m_process, &EngineProcess::ready);
        QSignalSpy connection(m_client, &EngineClient::connectionChanged);
        QCOMPARE(::kill(pid_t(pid), SIGKILL), 0);
        QVERIFY(restarting.wait(10000));
        QVERIFY(restarting.first().at(2).toString().contains(QStringLiteral("crashed or was killed")));
        QVERIFY(m_process->log().join(QLatin1Char('\n')).contains(QStringLiteral("Restarting in")));
        QVERIFY2(ready.wait(120000), qPrintable(m_process->log().join(QLatin1Char('\n'))));
        QVERIFY(m_process->pid() != pid);
        QCOMPARE(m_process->restarts(), 1);
        // The client saw the engine go and come back, without a new target.
        QVERIFY(waitFor([&] { return m_client->isConnected(); }, 15000));
        bool sawDown = false;
        for (const auto& args : connection) sawDown |= !args.first().toBool();
        QVERIFY(sawDown);
        listModels();
    }

    void stopOnDemand() {
        QSignalSpy state(m_process, &EngineProcess::stateChanged);
        m_process->stop();
        QVERIFY(waitFor([&] { return m_process->state() == EngineProcess::State::Stopped; }, 15000));
        QTest::qWait(1200);  // no restart after a stop that was asked for
        QCOMPARE(m_process->state(), EngineProcess::State::Stopped);
        QCOMPARE(m_process->restarts(), 1);
    }

    void backoff() {
        QCOMPARE(EngineProcess::backoffMs(1), 500);
        QCOMPARE(EngineProcess::backoffMs(2), 1000);
        QCOMPARE(EngineProcess::backoffMs(7), 30000);
        QCOMPARE(EngineProcess::backoffMs(50), 30000);
    }

    void cleanupTestCase() {
        delete m_client;
        delete m_process;
    }
};

QTEST_GUILESS_MAIN(TstEngineClient)
#include "tst_engine_client.moc"
