// Item models of the Models page: the model directory (Models.ListModelFiles), the served models
// (Models.ListModels) and the routes with their weights (Models.ListRoutes). Qt::UserRole gives the
// record's key (file name, served name, route name).
#pragma once

#include "app/models/row_table_model.h"
#include "enclave.pb.h"

namespace enclave::app {

class ModelFilesModel : public RowTableModel<enclave::v1::ModelFile> {
    Q_OBJECT
public:
    enum Column { File, Architecture, Parameters, Size, Context, Memory, TensorTypes, LoadedAs, Status, ColumnCount };
    using RowTableModel::RowTableModel;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

protected:
    int columns() const override { return ColumnCount; }
};

class LoadedModelsModel : public RowTableModel<enclave::v1::ModelInfo> {
    Q_OBJECT
public:
    enum Column { Id, File, Architecture, Context, Backend, State, Running, Waiting, ColumnCount };
    using RowTableModel::RowTableModel;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

protected:
    int columns() const override { return ColumnCount; }
};

class RoutesModel : public RowTableModel<enclave::v1::Route> {
    Q_OBJECT
public:
    enum Column { Name, Targets, ColumnCount };
    using RowTableModel::RowTableModel;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

protected:
    int columns() const override { return ColumnCount; }
};

}  // namespace enclave::app
