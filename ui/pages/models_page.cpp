#include "ui/pages/models_page.h"

#include <QGroupBox>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QTableView>
#include <QVBoxLayout>

#include "ui/widgets/record_table.h"

namespace enclave::ui {
ModelsPage::ModelsPage(EngineClient& client, QWidget* parent)
    : Page(client, parent), m_files(this), m_loaded(this), m_routes(this) {
    auto* layout = new QVBoxLayout(this);
    m_filesBox = new QGroupBox(this);
    auto* fl = new QVBoxLayout(m_filesBox);
    m_dirLabel = new QLabel(m_filesBox);
    m_dirLabel->setWordWrap(true);
    m_dirLabel->setProperty("enclaveEngineText", true);  // a path, or the engine's error
    fl->addWidget(m_dirLabel);
    m_filesView = makeRecordTable(&m_files, m_filesBox, true);
    fl->addWidget(m_filesView);
    m_estimate = new QLabel(m_filesBox);
    m_estimate->setWordWrap(true);
    fl->addWidget(m_estimate);
    auto* fb = new QHBoxLayout;
    m_refresh = new QPushButton(m_filesBox);
    m_load = new QPushButton(m_filesBox);
    m_swap = new QPushButton(m_filesBox);
    fb->addWidget(m_refresh);
    fb->addStretch(1);
    fb->addWidget(m_load);
    fb->addWidget(m_swap);
    fl->addLayout(fb);
    auto* pb = new QHBoxLayout;
    m_stage = new QLabel(m_filesBox);
    m_progress = new QProgressBar(m_filesBox);
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_cancel = new QPushButton(m_filesBox);
    m_cancel->setEnabled(false);
    pb->addWidget(m_stage);
    pb->addWidget(m_progress, 1);
    pb->addWidget(m_cancel);
    fl->addLayout(pb);
    layout->addWidget(m_filesBox, 3);

    m_loadedBox = new QGroupBox(this);
    auto* ll = new QVBoxLayout(m_loadedBox);
    m_loadedView = makeRecordTable(&m_loaded, m_loadedBox, true);
    ll->addWidget(m_loadedView);
    auto* lb = new QHBoxLayout;
    m_unload = new QPushButton(m_loadedBox);
    lb->addStretch(1);
    lb->addWidget(m_unload);
    ll->addLayout(lb);
    layout->addWidget(m_loadedBox, 2);

    m_routesBox = new QGroupBox(this);
    auto* rl = new QVBoxLayout(m_routesBox);
    m_routesView = makeRecordTable(&m_routes, m_routesBox, true);
    rl->addWidget(m_routesView);
    auto* rb = new QHBoxLayout;
    m_setRoute = new QPushButton(m_routesBox);
    m_deleteRoute = new QPushButton(m_routesBox);
    rb->addStretch(1);
    rb->addWidget(m_setRoute);
    rb->addWidget(m_deleteRoute);
    rl->addLayout(rb);
    layout->addWidget(m_routesBox, 2);

    m_filesView->setObjectName(QStringLiteral("modelFiles"));
    m_loadedView->setObjectName(QStringLiteral("servedModels"));
    m_routesView->setObjectName(QStringLiteral("routes"));
    m_load->setObjectName(QStringLiteral("loadModel"));
    m_swap->setObjectName(QStringLiteral("swapModel"));
    m_unload->setObjectName(QStringLiteral("unloadModel"));
    m_progress->setObjectName(QStringLiteral("loadProgress"));
    m_estimate->setObjectName(QStringLiteral("memoryEstimate"));
    m_stage->setObjectName(QStringLiteral("loadStage"));
    m_setRoute->setObjectName(QStringLiteral("setRoute"));
    m_deleteRoute->setObjectName(QStringLiteral("deleteRoute"));
    connect(m_refresh, &QPushButton::clicked, this, &ModelsPage::refresh);
    connect(m_load, &QPushButton::clicked, this, &ModelsPage::load);
    connect(m_swap, &QPushButton::clicked, this, &ModelsPage::swap);
    connect(m_unload, &QPushButton::clicked, this, &ModelsPage::unload);
    connect(m_setRoute, &QPushButton::clicked, this, &ModelsPage::editRoute);
    connect(m_deleteRoute, &QPushButton::clicked, this, &ModelsPage::deleteRoute);
    connect(m_cancel, &QPushButton::clicked, this, [this] {
        if (m_loading) m_loading->cancel();
    });
    connect(m_filesView->selectionModel(), &QItemSelectionModel::selectionChanged, this, &ModelsPage::updateEstimate);
    retranslate();
}

void ModelsPage::retranslate() {
    m_filesBox->setTitle(tr("Model directory"));
    m_loadedBox->setTitle(tr("Served models"));
    m_routesBox->setTitle(tr("Routes (canary and A/B weights)"));
    m_refresh->setText(tr("Refresh"));
    m_load->setText(tr("Load…"));
    m_swap->setText(tr("Hot swap into…"));
    m_unload->setText(tr("Unload"));
    m_setRoute->setText(tr("Set route…"));
    m_deleteRoute->setText(tr("Delete route"));
    m_cancel->setText(tr("Cancel"));
    if (m_filesError)
        m_dirLabel->setText(tr("The model directory could not be listed: %1").arg(m_filesError->text()));
    else
        m_dirLabel->setText(m_modelDir.isEmpty() ? tr("Model directory: (not listed yet)") : tr("Model directory: %1").arg(m_modelDir));
    m_stage->setText(stageText());
    updateEstimate();
}

void ModelsPage::setAdmin(bool admin) {
    m_admin = admin;
    m_filesBox->setVisible(admin);
    m_routesBox->setVisible(admin);
    m_unload->setVisible(admin);
}

void ModelsPage::refresh() {
    m_client.call("Models.ListModels", &v1::Models::Stub::ListModels, v1::ListModelsRequest{}, this,
                  [this](const v1::ListModelsReply& r) { m_loaded.setRows(app::toList(r.models())); }, failer());
    if (!m_admin) return;
    m_client.call(
        "Models.ListModelFiles", &v1::Models::Stub::ListModelFiles, v1::ListModelFilesRequest{}, this,
        [this](const v1::ListModelFilesReply& r) {
            m_filesError.reset();
            m_modelDir = QString::fromStdString(r.model_dir());
            m_files.setRows(app::toList(r.files()));
            retranslate();
        },
        [this](const EngineError& e) {
            m_filesError = e;
            retranslate();
            fail(e);
        });
    m_client.call("Models.ListRoutes", &v1::Models::Stub::ListRoutes, v1::ListRoutesRequest{}, this,
                  [this](const v1::ListRoutesReply& r) { m_routes.setRows(app::toList(r.routes())); }, failer());
}

QString ModelsPage::selectedFile() const {
    const auto rows = m_filesView->selectionModel()->selectedRows();
    return rows.isEmpty() ? QString() : m_files.data(rows.first(), Qt::UserRole).toString();
}

QString ModelsPage::selectedServed() const {
    const auto rows = m_loadedView->selectionModel()->selectedRows();
    return rows.isEmpty() ? QString() : m_loaded.data(rows.first(), Qt::UserRole).toString();
}

void ModelsPage::updateEstimate() {
    const auto rows = m_filesView->selectionModel()->selectedRows();
    if (rows.isEmpty()) {
        m_estimate->setText(tr("Select a file to see its memory estimate before loading it."));
        return;
    }
    const auto& f = m_files.rowAt(rows.first().row());
    if (!f.error().empty())
        m_estimate->setText(tr("%1 cannot be loaded: %2").arg(QString::fromStdString(f.file()), QString::fromStdString(f.error())));
    else
        m_estimate->setText(tr("Loading %1 needs about %2 (weights and KV cache at the configured context).")
                                .arg(QString::fromStdString(f.file()), app::fmt::bytes(double(f.estimated_memory_bytes()))));
}

void ModelsPage::load() {
    const QString file = selectedFile();
    if (file.isEmpty()) {
        say([=, this] { return tr("Select a model file to load first."); }, true);
        return;
    }
    bool ok = false;
    const QString name = QInputDialog::getText(this, tr("Load model"), tr("Served name (empty: the file name):"),
                                               QLineEdit::Normal, QString(), &ok);
    if (!ok) return;
    v1::LoadModelRequest req;
    req.set_file(file.toStdString());
    req.set_name(name.trimmed().toStdString());
    followProgress(m_client.stream("Models.Load", &v1::Models::Stub::Load, req, this,
                                   [this](const v1::LoadProgress& p) { onProgress(p); },
                                   [this](const EngineError* e) {
                                       m_cancel->setEnabled(false);
                                       if (e) {
                                           m_stageKey = QStringLiteral("failed");
                                           fail(*e);
                                       }
                                       retranslate();
                                       refresh();
                                   }));
}

void ModelsPage::swap() {
    const QString file = selectedFile();
    if (file.isEmpty() || m_loaded.rowCount() == 0) {
        say([=, this] { return tr("Select the new model file, and have a served model to replace."); }, true);
        return;
    }
    QStringList served;
    for (const auto& m : m_loaded.rows()) served << QString::fromStdString(m.id());
    bool ok = false;
    const QString name = QInputDialog::getItem(this, tr("Hot swap"), tr("Replace the served model:"), served, 0, false, &ok);
    if (!ok) return;
    v1::SwapModelRequest req;
    req.set_name(name.toStdString());
    req.set_file(file.toStdString());
    followProgress(m_client.stream("Models.Swap", &v1::Models::Stub::Swap, req, this,
                                   [this](const v1::LoadProgress& p) { onProgress(p); },
                                   [this](const EngineError* e) {
                                       m_cancel->setEnabled(false);
                                       if (e) {
                                           m_stageKey = QStringLiteral("failed");
                                           fail(*e);
                                       }
                                       retranslate();
                                       refresh();
                                   }));
}

void ModelsPage::followProgress(app::Stream stream) {
    m_loading = std::move(stream);
    m_progress->setValue(0);
    m_stageKey = QStringLiteral("starting");
    m_cancel->setEnabled(true);
    retranslate();
}

void ModelsPage::onProgress(const v1::LoadProgress& p) {
    m_progress->setValue(int(p.fraction() * 1000));
    m_stageKey = QString::fromStdString(p.stage());
    if (p.done()) {
        m_stageKey = QStringLiteral("done");
        m_doneModel = QString::fromStdString(p.model().id());
        const QString model = m_doneModel;
        say([model] { return tr("Done: %1 is serving").arg(model); }, false);
    }
    retranslate();
}

QString ModelsPage::stageText() const {
    static const QHash<QString, const char*> stages = {
        {"", QT_TR_NOOP("Idle")},           {"starting", QT_TR_NOOP("Starting")}, {"failed", QT_TR_NOOP("Failed")},
        {"reading", QT_TR_NOOP("Reading")}, {"uploading", QT_TR_NOOP("Uploading")}, {"warming", QT_TR_NOOP("Warming up")},
        {"serving", QT_TR_NOOP("Serving")}, {"draining", QT_TR_NOOP("Draining")},   {"unloaded", QT_TR_NOOP("Unloaded")}};
    if (m_stageKey == QLatin1String("done")) return tr("Done: %1 is serving").arg(m_doneModel);
    return stages.contains(m_stageKey) ? tr(stages.value(m_stageKey)) : m_stageKey;
}

void ModelsPage::unload() {
    const QString name = selectedServed();
    if (name.isEmpty()) {
        say([=, this] { return tr("Select a served model to unload first."); }, true);
        return;
    }
    v1::UnloadModelRequest req;
    req.set_name(name.toStdString());
    m_client.call("Models.Unload", &v1::Models::Stub::Unload, req, this,
                  [this, name](const v1::UnloadModelReply&) {
                      say([=, this] { return tr("Unloaded %1").arg(name); }, false);
                      refresh();
                  },
                  failer());
}

void ModelsPage::editRoute() {
    bool ok = false;
    const QString name = QInputDialog::getText(this, tr("Set route"), tr("Public model name:"), QLineEdit::Normal, QString(), &ok);
    if (!ok || name.trimmed().isEmpty()) return;
    const QString spec = QInputDialog::getText(this, tr("Set route"),
                                               tr("Targets as model=weight, separated by commas (e.g. a=90, b=10):"),
                                               QLineEdit::Normal, QString(), &ok);
    if (!ok) return;
    v1::SetRouteRequest req;
    req.mutable_route()->set_name(name.trimmed().toStdString());
    for (const QString& part : spec.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        const QStringList kv = part.split(QLatin1Char('='));
        bool numOk = false;
        const uint weight = kv.size() == 2 ? kv[1].trimmed().toUInt(&numOk) : 0;
        if (!numOk) {
            say([=, this] { return tr("Not a target: '%1' (write model=weight)").arg(part.trimmed()); }, true);
            return;
        }
        auto* t = req.mutable_route()->add_targets();
        t->set_model(kv[0].trimmed().toStdString());
        t->set_weight(weight);
    }
    m_client.call("Models.SetRoute", &v1::Models::Stub::SetRoute, req, this, [this](const v1::Route&) { refresh(); }, failer());
}

void ModelsPage::deleteRoute() {
    const auto rows = m_routesView->selectionModel()->selectedRows();
    if (rows.isEmpty()) {
        say([=, this] { return tr("Select a route to delete first."); }, true);
        return;
    }
    v1::DeleteRouteRequest req;
    req.set_name(m_routes.data(rows.first(), Qt::UserRole).toString().toStdString());
    m_client.call("Models.DeleteRoute", &v1::Models::Stub::DeleteRoute, req, this,
                  [this](const v1::DeleteRouteReply&) { refresh(); }, failer());
}

}  // namespace enclave::ui
