// EngineProcess's supervision without a real engine (Qt Creator's processtestapp idea): a tiny fake
// engine that dies at once is restarted with growing backoff, and after five early deaths in a row the
// supervisor gives up (State::Failed), says why, and starts nothing more. And an engine does not outlive
// a console that is killed (this executable, run with --as-console, is that console).
#include <QElapsedTimer>
#include <QFile>
#include <QProcess>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include "app/engine_process.h"

#include <csignal>  // defines: kill, SIGKILL

using namespace enclave::app;

namespace {
// A process that exists and is not a zombie (a reparented child may wait a while to be reaped).
bool alive(qint64 pid) {
    QFile stat(QStringLiteral("/proc/%1/stat").arg(pid));
    if (!stat.open(QIODevice::ReadOnly)) return false;
    const QByteArray s = stat.readAll();
    const qsizetype paren = s.lastIndexOf(')');
    return paren > 0 && paren + 2 < s.size() && s[paren + 2] != 'Z';
}

// --as-console DIR: a console that starts the lasting fake engine with DIR as its state directory and
// runs until it is killed.
int runAsConsole(int argc, char** argv) {
    QCoreApplication app(argc, argv);
    ConnectionProfile p =
        ConnectionProfile::defaultLocal(QStringLiteral(ENCLAVE_SOURCE_DIR "/tests/app/data/lasting_engine.sh"));
    p.stateDir = QString::fromLocal8Bit(argv[2]);
    p.socketPath = p.stateDir + QStringLiteral("/engine.sock");
    EngineProcess process;
    process.start(p);
    return QCoreApplication::exec();
}
}  // namespace

class TstEngineProcess : public QObject {
    Q_OBJECT
private slots:
    void backoffGrowsAndIsCapped() {
        QCOMPARE(EngineProcess::backoffMs(1), 500);
        QCOMPARE(EngineProcess::backoffMs(2), 1000);
        QCOMPARE(EngineProcess::backoffMs(3), 2000);
        QCOMPARE(EngineProcess::backoffMs(7), 30000);
        QCOMPARE(EngineProcess::backoffMs(50), 30000);
    }

    void givesUpAfterRepeatedEarlyDeaths() {
        QTemporaryDir dir;
        ConnectionProfile p = ConnectionProfile::defaultLocal(QStringLiteral(ENCLAVE_SOURCE_DIR "/tests/app/data/dying_engine.sh"));
        p.stateDir = dir.filePath(QStringLiteral("state"));
        p.socketPath = dir.filePath(QStringLiteral("engine.sock"));
        p.modelDir = dir.path();  // the fake has no --model-dir: the supervisor leaves it out and logs that
        EngineProcess process;
        QSignalSpy restarting(&process, &EngineProcess::restarting);
        QSignalSpy failed(&process, &EngineProcess::failed);
        QSignalSpy ready(&process, &EngineProcess::ready);
        QElapsedTimer clock;
        clock.start();
        process.start(p);
        QVERIFY(failed.wait(20000));
        // Deaths 1..4 were restarted after 0.5, 1, 2 and 4 s; the fifth is not.
        QCOMPARE(restarting.size(), 4);
        for (int i = 0; i < restarting.size(); ++i) {
            QCOMPARE(restarting.at(i).at(0).toInt(), i + 1);
            QCOMPARE(restarting.at(i).at(1).toInt(), EngineProcess::backoffMs(i + 1));
            QCOMPARE(restarting.at(i).at(2).toString(), QStringLiteral("the engine exited with code 3"));
        }
        QVERIFY2(clock.elapsed() >= 7000, "the restarts waited their backoff");
        QCOMPARE(process.state(), EngineProcess::State::Failed);
        QVERIFY(ready.isEmpty());
        const QString why = failed.first().first().toString();
        QVERIFY2(why.contains(QStringLiteral("failed 5 times before becoming ready")), qPrintable(why));
        QCOMPARE(process.failureText(), why);
        const QString log = process.log().join(QLatin1Char('\n'));
        QVERIFY(log.contains(QStringLiteral("fake engine: failing on purpose")));
        QVERIFY(log.contains(QStringLiteral("has no --model-dir flag")));
        QCOMPARE(process.pid(), 0);
        // Given up means given up: nothing is started again.
        QTest::qWait(1500);
        QCOMPARE(restarting.size(), 4);
        QCOMPARE(process.state(), EngineProcess::State::Failed);
        // A start on demand tries again from the beginning.
        process.start(p);
        QVERIFY(restarting.wait(5000));
        QCOMPARE(restarting.last().at(0).toInt(), 1);
        process.stop();
    }

    void engineEndsWhenItsConsoleIsKilled() {
#ifndef Q_OS_LINUX
        QSKIP("the parent-death signal is Linux's");
#endif
        QTemporaryDir dir;
        QProcess console;
        console.start(QCoreApplication::applicationFilePath(), {QStringLiteral("--as-console"), dir.path()});
        QVERIFY(console.waitForStarted());
        QFile pidFile(dir.filePath(QStringLiteral("engine.pid")));
        QDeadlineTimer started(15000);
        while (!(pidFile.exists() && pidFile.size() > 0) && !started.hasExpired()) QTest::qWait(50);
        QVERIFY2(pidFile.open(QIODevice::ReadOnly), "the fake engine did not start");
        const qint64 engine = pidFile.readAll().trimmed().toLongLong();
        QVERIFY(engine > 0 && alive(engine));
        ::kill(pid_t(console.processId()), SIGKILL);  // no destructor, no clean stop
        QVERIFY(console.waitForFinished(5000));
        QDeadlineTimer ended(5000);
        while (alive(engine) && !ended.hasExpired()) QTest::qWait(50);
        const bool outlived = alive(engine);
        if (outlived) ::kill(pid_t(engine), SIGKILL);
        QVERIFY2(!outlived, "the engine outlived its console");
    }

    void missingBinaryFailsAtOnce() {
        EngineProcess process;
        QSignalSpy failed(&process, &EngineProcess::failed);
        process.start(ConnectionProfile::defaultLocal(QStringLiteral("/nonexistent/enclave-engine")));
        QCOMPARE(failed.size(), 1);
        QCOMPARE(process.state(), EngineProcess::State::Failed);
        QVERIFY(failed.first().first().toString().contains(QStringLiteral("/nonexistent/enclave-engine")));
    }
};

int main(int argc, char** argv) {
    if (argc == 3 && qstrcmp(argv[1], "--as-console") == 0) return runAsConsole(argc, argv);
    QCoreApplication app(argc, argv);
    TstEngineProcess test;
    return QTest::qExec(&test, argc, argv);
}
#include "tst_engine_process.moc"
