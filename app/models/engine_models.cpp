#include "app/models/engine_models.h"

namespace enclave::app {
namespace {
QString s(const std::string& v) { return QString::fromStdString(v); }
QStringList list(const google::protobuf::RepeatedPtrField<std::string>& r) {
    QStringList out;
    for (const auto& v : r) out << s(v);
    return out;
}
}  // namespace

QVariant ModelFilesModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const auto& f = m_rows.at(index.row());
    if (role == Qt::UserRole) return s(f.file());
    if (role == Qt::ToolTipRole && !f.error().empty()) return s(f.error());
    if (role != Qt::DisplayRole) return {};
    switch (index.column()) {
    case File: return s(f.file());
    case Architecture: return s(f.architecture());
    case Parameters: return f.parameters() > 0 ? fmt::count(double(f.parameters())) : QString();
    case Size: return fmt::bytes(double(f.size_bytes()));
    case Context: return f.context_tokens() > 0 ? QString::number(f.context_tokens()) : QString();
    case Memory: return f.estimated_memory_bytes() > 0 ? fmt::bytes(double(f.estimated_memory_bytes())) : QString();
    case TensorTypes: return list(f.tensor_types()).join(QStringLiteral(", "));
    case LoadedAs: return list(f.loaded_as()).join(QStringLiteral(", "));
    case Status:
        if (!f.error().empty()) return tr("not loadable: %1").arg(s(f.error()));
        return f.loaded_as_size() > 0 ? tr("loaded") : tr("available");
    }
    return {};
}

QVariant ModelFilesModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case File: return tr("File");
    case Architecture: return tr("Architecture");
    case Parameters: return tr("Parameters");
    case Size: return tr("Size on disk");
    case Context: return tr("Context");
    case Memory: return tr("Estimated memory");
    case TensorTypes: return tr("Tensor types");
    case LoadedAs: return tr("Served as");
    case Status: return tr("Status");
    }
    return {};
}

QVariant LoadedModelsModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const auto& m = m_rows.at(index.row());
    if (role == Qt::UserRole) return s(m.id());
    if (role != Qt::DisplayRole) return {};
    switch (index.column()) {
    case Id: return s(m.id());
    case File: return s(m.file());
    case Architecture: return s(m.architecture());
    case Context: return QString::number(m.context_tokens());
    case Backend: return s(m.backend());
    case State:
        if (m.state() == "serving") return tr("serving");
        if (m.state() == "draining") return tr("draining");
        return s(m.state());
    case Running: return QString::number(m.running_requests());
    case Waiting: return QString::number(m.waiting_requests());
    }
    return {};
}

QVariant LoadedModelsModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    switch (section) {
    case Id: return tr("Served name");
    case File: return tr("File");
    case Architecture: return tr("Architecture");
    case Context: return tr("Context");
    case Backend: return tr("Backend");
    case State: return tr("State");
    case Running: return tr("Running");
    case Waiting: return tr("Waiting");
    }
    return {};
}

QVariant RoutesModel::data(const QModelIndex& index, int role) const {
    if (!checkIndex(index, CheckIndexOption::IndexIsValid)) return {};
    const auto& r = m_rows.at(index.row());
    if (role == Qt::UserRole) return s(r.name());
    if (role != Qt::DisplayRole) return {};
    if (index.column() == Name) return s(r.name());
    uint32_t total = 0;
    for (const auto& t : r.targets()) total += t.weight();
    QStringList parts;
    for (const auto& t : r.targets())
        parts << tr("%1: weight %2 (%3 %)").arg(s(t.model())).arg(t.weight()).arg(total ? 100.0 * t.weight() / total : 0.0, 0, 'f', 0);
    return parts.join(QStringLiteral("; "));
}

QVariant RoutesModel::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole) return {};
    return section == Name ? tr("Public name") : tr("Targets and weights");
}

}  // namespace enclave::app
