// Models: served models, the model directory, load/unload/swap with progress, weighted routes.
#include <nlohmann/json.hpp>

#include "server/grpc/serving_services.h"

#include "server/grpc/grpc_caller.h"
#include "server/grpc/serving_common.h"
#include "server/model_files.h"

namespace enclave::server::grpc_api {
namespace {

using security::Action;

void to_proto(const ServedModel& m, v1::ModelInfo* out) {
    const EngineService& s = *m.service;
    out->set_id(m.name);
    out->set_architecture(s.model_config().architecture);
    out->set_context_tokens(s.context_tokens());
    out->set_vocabulary(s.model_config().n_vocab);
    out->set_file(s.file());
    out->set_backend(s.backend_name());
    out->set_state(m.draining ? "draining" : "serving");
    const MetricsValues v = s.metrics().values();
    out->set_running_requests(v.running);
    out->set_waiting_requests(v.waiting);
}

class ModelsService final : public v1::Models::Service {
public:
    explicit ModelsService(ServerParts& parts) : parts_(parts) {}

    grpc::Status ListModels(grpc::ServerContext* ctx, const v1::ListModelsRequest*, v1::ListModelsReply* reply) override {
        return guarded([&] {
            authorize(parts_, ctx, Action::models_list);
            for (const auto& m : parts_.models.models()) to_proto(m, reply->add_models());
            return grpc::Status::OK;
        });
    }

    grpc::Status ListModelFiles(grpc::ServerContext* ctx, const v1::ListModelFilesRequest*,
                                v1::ListModelFilesReply* reply) override {
        return guarded([&] {
            authorize(parts_, ctx, Action::models_files);
            const auto served = parts_.models.models();
            for (const auto& f : list_model_files(parts_.model_dir, parts_.default_context_tokens)) {
                auto* out = reply->add_files();
                out->set_file(f.file);
                out->set_size_bytes(static_cast<int64_t>(f.size_bytes));
                out->set_architecture(f.architecture);
                out->set_parameters(f.parameters);
                for (const auto& t : f.tensor_types) out->add_tensor_types(t);
                out->set_context_tokens(f.context_tokens);
                out->set_estimated_memory_bytes(static_cast<int64_t>(f.estimated_memory_bytes));
                out->set_error(f.error);
                for (const auto& m : served)
                    if (m.service->file() == f.file && !m.draining) out->add_loaded_as(m.name);
            }
            reply->set_model_dir(parts_.model_dir.string());
            return grpc::Status::OK;
        });
    }

    grpc::Status Load(grpc::ServerContext* ctx, const v1::LoadModelRequest* req,
                      grpc::ServerWriter<v1::LoadProgress>* writer) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::models_manage, req->file());
            return audited(who, "model.load", req->file(), {{"name", req->name()}}, [&] {
                check_context(req->context_tokens());
                model_file_in(parts_.model_dir, req->file());  // a plain name inside the directory
                LoadRequest load{req->file(), req->name(), req->context_tokens()};
                auto service = parts_.models.load(load, progress_to(writer));
                finish(writer, service);
            });
        });
    }

    grpc::Status Swap(grpc::ServerContext* ctx, const v1::SwapModelRequest* req,
                      grpc::ServerWriter<v1::LoadProgress>* writer) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::models_manage, req->name());
            return audited(who, "model.swap", req->name(), {{"file", req->file()}}, [&] {
                check_context(req->context_tokens());
                model_file_in(parts_.model_dir, req->file());
                LoadRequest load{req->file(), req->name(), req->context_tokens()};
                auto service = parts_.models.swap(req->name(), load, progress_to(writer));
                finish(writer, service);
            });
        });
    }

    grpc::Status Unload(grpc::ServerContext* ctx, const v1::UnloadModelRequest* req, v1::UnloadModelReply*) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::models_manage, req->name());
            return audited(who, "model.unload", req->name(), nlohmann::json::object(), [&] { parts_.models.unload(req->name()); });
        });
    }

    grpc::Status ListRoutes(grpc::ServerContext* ctx, const v1::ListRoutesRequest*, v1::ListRoutesReply* reply) override {
        return guarded([&] {
            authorize(parts_, ctx, Action::models_list);
            for (const auto& r : parts_.models.routes()) route_to_proto(r, reply->add_routes());
            return grpc::Status::OK;
        });
    }

    grpc::Status SetRoute(grpc::ServerContext* ctx, const v1::SetRouteRequest* req, v1::Route* reply) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::models_manage, req->route().name());
            Route route;
            route.name = req->route().name();
            nlohmann::json targets = nlohmann::json::array();
            for (const auto& t : req->route().targets()) {
                route.targets.push_back({t.model(), t.weight()});
                targets.push_back({{"model", t.model()}, {"weight", t.weight()}});
            }
            return audited(who, "route.set", route.name, {{"targets", targets}}, [&] {
                parts_.models.set_route(route);
                route_to_proto(route, reply);
            });
        });
    }

    grpc::Status DeleteRoute(grpc::ServerContext* ctx, const v1::DeleteRouteRequest* req, v1::DeleteRouteReply*) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::models_manage, req->name());
            return audited(who, "route.delete", req->name(), nlohmann::json::object(), [&] { parts_.models.delete_route(req->name()); });
        });
    }

private:
    static void route_to_proto(const Route& r, v1::Route* out) {
        out->set_name(r.name);
        for (const auto& t : r.targets) {
            auto* o = out->add_targets();
            o->set_model(t.model);
            o->set_weight(t.weight);
        }
    }

    static void check_context(int64_t tokens) {
        if (tokens < 0 || tokens > (int64_t{1} << 24))
            throw InvalidArgument("context_tokens: must be 0 (the default) to 16777216 (got " + std::to_string(tokens) + ")");
    }

    static LoadProgressFn progress_to(grpc::ServerWriter<v1::LoadProgress>* writer) {
        return [writer](double fraction, const std::string& stage) {
            v1::LoadProgress p;
            p.set_fraction(fraction);
            p.set_stage(stage);
            writer->Write(p);  // a client that left still gets its model loaded (the admin asked for it)
        };
    }

    // The last progress event: done, with the model as it is now served.
    static void finish(grpc::ServerWriter<v1::LoadProgress>* writer, const std::shared_ptr<EngineService>& s) {
        v1::LoadProgress p;
        p.set_fraction(1.0);
        p.set_stage("serving");
        p.set_done(true);
        to_proto(ServedModel{s->model_id(), s, false}, p.mutable_model());
        writer->Write(p);
    }

    // Runs a model change and audits it as MODEL with its result, whatever happens.
    grpc::Status audited(const security::Principal& who, const char* action, const std::string& target,
                         const nlohmann::json& details, const std::function<void()>& change) {
        try {
            change();
        } catch (const std::exception& e) {
            nlohmann::json failed = details;
            failed["error"] = e.what();
            parts_.authorizer.audit(who, {"MODEL", action, target, "error", failed.dump()});
            throw;
        }
        parts_.authorizer.audit(who, {"MODEL", action, target, "ok", details.dump()});
        return grpc::Status::OK;
    }

    ServerParts& parts_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_models_service(ServerParts& parts) { return std::make_unique<ModelsService>(parts); }

}  // namespace enclave::server::grpc_api
