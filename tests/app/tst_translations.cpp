// The console's translations are complete: no unfinished, vanished or obsolete entries, no empty
// translation, the same %N placeholders as the source, and Chinese that is not left as the English.
#include <QFile>
#include <QRegularExpression>
#include <QSet>
#include <QXmlStreamReader>
#include <QtTest>

class TstTranslations : public QObject {
    Q_OBJECT
private slots:
    void complete_data() {
        QTest::addColumn<QString>("file");
        QTest::newRow("en") << QStringLiteral(ENCLAVE_SOURCE_DIR "/translations/enclave_en.ts");
        QTest::newRow("zh_CN") << QStringLiteral(ENCLAVE_SOURCE_DIR "/translations/enclave_zh_CN.ts");
    }
    void complete() {
        QFETCH(QString, file);
        QFile f(file);
        QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(file));
        QXmlStreamReader xml(&f);
        const bool chinese = file.endsWith(QLatin1String("zh_CN.ts"));
        // Texts that are the same in Chinese: symbols and units.
        const QSet<QString> same = {QStringLiteral("%1: %2"), QStringLiteral("%1 %2"), QStringLiteral("%"),
                                    QStringLiteral("°C"), QStringLiteral("GiB")};
        static const QRegularExpression placeholder(QStringLiteral("%\\d+"));
        int messages = 0;
        QStringList problems;
        QString source;
        while (!xml.atEnd()) {
            xml.readNext();
            if (!xml.isStartElement()) continue;
            if (xml.name() == QLatin1String("source")) source = xml.readElementText();
            if (xml.name() != QLatin1String("translation")) continue;
            ++messages;
            const QString type = xml.attributes().value(QLatin1String("type")).toString();
            const QString text = xml.readElementText();
            if (!type.isEmpty()) problems << QStringLiteral("%1: '%2'").arg(type, source);
            if (text.trimmed().isEmpty()) problems << QStringLiteral("empty: '%1'").arg(source);
            QSet<QString> a, b;
            for (auto it = placeholder.globalMatch(source); it.hasNext();) a.insert(it.next().captured());
            for (auto it = placeholder.globalMatch(text); it.hasNext();) b.insert(it.next().captured());
            if (a != b) problems << QStringLiteral("placeholders differ: '%1' -> '%2'").arg(source, text);
            if (chinese && text == source && !same.contains(source)) problems << QStringLiteral("not translated: '%1'").arg(source);
        }
        QVERIFY2(!xml.hasError(), qPrintable(xml.errorString()));
        QVERIFY2(messages > 300, qPrintable(QStringLiteral("only %1 messages").arg(messages)));
        QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QLatin1Char('\n'))));
    }
};

QTEST_GUILESS_MAIN(TstTranslations)
#include "tst_translations.moc"
