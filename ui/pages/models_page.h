// Models: the engine's model directory with metadata (Models.ListModelFiles), the served models
// (Models.ListModels) and routes (Models.ListRoutes). Load and hot swap stream their progress into a
// progress bar; the memory estimate of the selected file shows before anything is loaded. Analysts see
// the served models only (the engine refuses them the rest).
#pragma once

#include <optional>

#include "app/models/engine_models.h"
#include "ui/page.h"

class QLabel;
class QProgressBar;
class QPushButton;
class QTableView;
class QGroupBox;

namespace enclave::ui {

class ModelsPage : public Page {
    Q_OBJECT
public:
    explicit ModelsPage(EngineClient& client, QWidget* parent = nullptr);
    QString title() const override { return tr("Models"); }
    void refresh() override;
    void setAdmin(bool admin);
    const app::LoadedModelsModel& loadedModels() const { return m_loaded; }

protected:
    void retranslate() override;

private:
    void load();
    void swap();
    void unload();
    void editRoute();
    void deleteRoute();
    void followProgress(app::Stream stream);
    void onProgress(const v1::LoadProgress& p);
    void updateEstimate();
    QString selectedFile() const;
    QString selectedServed() const;
    QString stageText() const;

    app::ModelFilesModel m_files;
    app::LoadedModelsModel m_loaded;
    app::RoutesModel m_routes;
    QGroupBox* m_filesBox;
    QGroupBox* m_loadedBox;
    QGroupBox* m_routesBox;
    QTableView* m_filesView;
    QTableView* m_loadedView;
    QTableView* m_routesView;
    QLabel* m_dirLabel;
    QLabel* m_estimate;
    QLabel* m_stage;
    QProgressBar* m_progress;
    QPushButton* m_refresh;
    QPushButton* m_load;
    QPushButton* m_swap;
    QPushButton* m_unload;
    QPushButton* m_setRoute;
    QPushButton* m_deleteRoute;
    QPushButton* m_cancel;
    app::Stream m_loading;
    QString m_modelDir;
    std::optional<EngineError> m_filesError;  // kept as the error: shown again after a language switch
    QString m_stageKey;                       // the engine's load stage, or starting/failed/done
    QString m_doneModel;
    bool m_admin = true;
};

}  // namespace enclave::ui
