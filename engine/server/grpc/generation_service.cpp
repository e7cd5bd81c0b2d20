// Generation.Generate: one prompt or conversation in, its tokens streamed out (api/enclave.proto).
#include "server/grpc/serving_services.h"

#include "server/grpc/grpc_caller.h"
#include "server/grpc/serving_common.h"

namespace enclave::server::grpc_api {
namespace {

using security::Action;

class GenerationService final : public v1::Generation::Service {
public:
    explicit GenerationService(ServerParts& parts) : parts_(parts) {}

    grpc::Status Generate(grpc::ServerContext* ctx, const v1::GenerateRequest* req,
                          grpc::ServerWriter<v1::GenerateEvent>* writer) override {
        return guarded([&] {
            const security::Principal who = authorize(parts_, ctx, Action::generate, req->model(), req->model());
            std::string routed;
            std::shared_ptr<EngineService> engine = parts_.models.resolve(req->model(), &routed);
            const std::string model = engine->model_id();
            if (!routed.empty() && req->model() != model)  // a route: the key's scope must allow the target too
                parts_.authorizer.authorize(caller_of(*ctx), Action::generate, model, model);
            std::vector<TokenId> prompt;
            if (req->has_chat()) {
                if (req->chat().messages_size() > 1024) throw InvalidArgument("chat.messages: at most 1024 messages");
                std::vector<ChatMessage> messages;
                for (const auto& m : req->chat().messages()) messages.push_back({m.role(), m.content()});
                prompt = engine->chat_prompt(messages);
            } else if (req->has_prompt()) {
                prompt = engine->text_prompt(req->prompt());
            } else {
                throw InvalidArgument("input: set prompt or chat");
            }
            auto admission = parts_.authorizer.admit_inference(who, model);
            return run_inference(parts_, who, ctx, *engine, *admission, std::move(prompt), sampling_from(req->sampling()),
                                 writer, "generate")
                .status;
        });
    }

private:
    ServerParts& parts_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_generation_service(ServerParts& parts) {
    return std::make_unique<GenerationService>(parts);
}

}  // namespace enclave::server::grpc_api
