// enclave-console: builds the console's services (settings, language, engine client, engine supervisor,
// session) and hands them to the main window. Nothing here is global: tests build the same graph.
//
// Options (./enclave run uses them to deploy the build's engine with the default model):
//   --engine PATH      the enclave-engine binary for the local profile (default: beside the console)
//   --model-dir DIR    the local engine's model directory
//   --load FILE        a model file to serve from the start (repeatable)
//   --state-dir DIR    the local engine's state directory
//   --deploy           start the local engine at once (else the Connect page waits for "Start engine")
#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QLocale>
#include <QSettings>

#include "app/connection_profile.h"
#include "app/engine_client.h"
#include "app/engine_process.h"
#include "app/session.h"
#include "ui/language.h"
#include "ui/main_window.h"
#include "ui/pages/connect_page.h"
#include "ui/theme.h"

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("Enclave"));
    QApplication::setApplicationName(QStringLiteral("enclave-console"));
    QCommandLineParser cli;
    cli.setApplicationDescription(QStringLiteral("Enclave admin console"));
    cli.addHelpOption();
    const QCommandLineOption engine(QStringLiteral("engine"), QStringLiteral("enclave-engine binary of the local profile"),
                                    QStringLiteral("PATH"));
    const QCommandLineOption modelDir(QStringLiteral("model-dir"), QStringLiteral("model directory of the local engine"),
                                      QStringLiteral("DIR"));
    const QCommandLineOption load(QStringLiteral("load"), QStringLiteral("model file served from the start (repeatable)"),
                                  QStringLiteral("FILE"));
    const QCommandLineOption stateDir(QStringLiteral("state-dir"), QStringLiteral("state directory of the local engine"),
                                      QStringLiteral("DIR"));
    const QCommandLineOption deploy(QStringLiteral("deploy"), QStringLiteral("start the local engine at once"));
    cli.addOptions({engine, modelDir, load, stateDir, deploy});
    cli.process(app);

    QSettings settings;
    enclave::ui::applyTheme(enclave::ui::themeFromCode(settings.value(QStringLiteral("theme")).toString()));
    enclave::ui::Language language;
    const QString systemLanguage = QLocale::system().name().startsWith(QLatin1String("zh")) ? QStringLiteral("zh_CN") : QStringLiteral("en");
    language.set(settings.value(QStringLiteral("language"), systemLanguage).toString());

    enclave::app::EngineClient client;
    enclave::app::EngineProcess process;
    enclave::app::Session session(client);
    enclave::app::ProfileStore profiles(settings);
    enclave::ui::MainWindow window(client, process, session, profiles, language, settings);

    // The engine binary beside the console (a bundle or a build tree) is the default for a new profile.
    const QString beside = QDir(QApplication::applicationDirPath()).filePath(QStringLiteral("enclave-engine"));
    const QString last = profiles.lastUsed();
    const bool fromCommandLine = cli.isSet(engine) || cli.isSet(modelDir) || cli.isSet(load) || cli.isSet(stateDir) || cli.isSet(deploy);
    enclave::app::ConnectionProfile profile;
    if (fromCommandLine || last.isEmpty()) {
        profile = enclave::app::ConnectionProfile::defaultLocal(cli.isSet(engine) ? QFileInfo(cli.value(engine)).absoluteFilePath() : beside);
        if (cli.isSet(modelDir)) profile.modelDir = QFileInfo(cli.value(modelDir)).absoluteFilePath();
        if (cli.isSet(stateDir)) profile.stateDir = QFileInfo(cli.value(stateDir)).absoluteFilePath();
        if (cli.isSet(load)) profile.models = cli.values(load);
    } else {
        profile = profiles.profile(last);
    }
    window.connectPage()->setProfile(profile);
    window.show();
    if (cli.isSet(deploy)) window.connectPage()->startLocal();
    return QApplication::exec();
}
