// Conversations: kept by the engine per user; Send streams the answer and stores it when it ends.
#include <google/protobuf/util/json_util.h>

#include "server/grpc/serving_services.h"

#include "server/grpc/grpc_caller.h"
#include "server/grpc/serving_common.h"
#include "server/store/conversation_store.h"

namespace enclave::server::grpc_api {
namespace {

using security::Action;

v1::Sampling sampling_of(const std::string& json) {
    v1::Sampling s;
    if (!json.empty() && json != "{}") (void)google::protobuf::util::JsonStringToMessage(json, &s);
    return s;
}

void to_proto(const ConversationHeader& h, v1::ConversationSummary* out) {
    out->set_id(h.id);
    out->set_title(h.title);
    out->set_model(h.model);
    out->set_created_ms(h.created_ms);
    out->set_updated_ms(h.updated_ms);
    out->set_messages(h.messages);
}

class ConversationsService final : public v1::Conversations::Service {
public:
    explicit ConversationsService(ServerParts& parts) : parts_(parts) {}

    grpc::Status ListConversations(grpc::ServerContext* ctx, const v1::ListConversationsRequest*,
                                   v1::ListConversationsReply* reply) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::conversations_own);
            for (const auto& h : parts_.conversations.list(who.user_id)) to_proto(h, reply->add_conversations());
            return grpc::Status::OK;
        });
    }

    grpc::Status GetConversation(grpc::ServerContext* ctx, const v1::GetConversationRequest* req,
                                 v1::Conversation* reply) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::conversations_own, std::to_string(req->id()));
            const auto h = parts_.conversations.header(who.user_id, req->id());
            to_proto(h, reply->mutable_summary());
            reply->set_system_prompt(h.system_prompt);
            *reply->mutable_sampling() = sampling_of(h.sampling_json);
            for (const auto& m : parts_.conversations.messages(who.user_id, req->id())) {
                auto* o = reply->add_messages();
                o->set_role(m.role);
                o->set_content(m.content);
                o->set_time_ms(m.time_ms);
                o->set_tokens(m.tokens);
                o->set_finish_reason(m.finish_reason);
            }
            return grpc::Status::OK;
        });
    }

    grpc::Status CreateConversation(grpc::ServerContext* ctx, const v1::CreateConversationRequest* req,
                                    v1::Conversation* reply) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::conversations_own, req->model(), req->model());
            sampling_from(req->sampling());  // range-checked when used; shape-checked now
            std::string json;
            (void)google::protobuf::util::MessageToJsonString(req->sampling(), &json);
            const auto h = parts_.conversations.create(who.user_id, req->title(), req->model(), req->system_prompt(), json);
            to_proto(h, reply->mutable_summary());
            reply->set_system_prompt(h.system_prompt);
            *reply->mutable_sampling() = req->sampling();
            return grpc::Status::OK;
        });
    }

    grpc::Status DeleteConversation(grpc::ServerContext* ctx, const v1::DeleteConversationRequest* req,
                                    v1::DeleteConversationReply*) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::conversations_own, std::to_string(req->id()));
            parts_.conversations.remove(who.user_id, req->id());
            return grpc::Status::OK;
        });
    }

    grpc::Status Send(grpc::ServerContext* ctx, const v1::SendMessageRequest* req,
                      grpc::ServerWriter<v1::GenerateEvent>* writer) override {
        return guarded([&] {
            const auto who = authorize(parts_, ctx, Action::conversations_own, std::to_string(req->conversation_id()));
            if (req->content().empty()) throw InvalidArgument("content: the message is empty");
            const auto h = parts_.conversations.header(who.user_id, req->conversation_id());
            // The model and the key's scope are checked as for Generate.
            parts_.authorizer.authorize(caller_of(*ctx), Action::generate, h.model, h.model);
            std::string routed;
            std::shared_ptr<EngineService> engine = parts_.models.resolve(h.model, &routed);
            v1::Sampling sampling = sampling_of(h.sampling_json);
            sampling.MergeFrom(req->sampling());
            const SamplingParams params = sampling_from(sampling);

            std::vector<ChatMessage> chat;
            if (!h.system_prompt.empty()) chat.push_back({"system", h.system_prompt});
            for (const auto& m : parts_.conversations.messages(who.user_id, h.id)) chat.push_back({m.role, m.content});
            chat.push_back({"user", req->content()});
            std::vector<TokenId> prompt = engine->chat_prompt(chat);  // validated before anything is stored
            auto admission = parts_.authorizer.admit_inference(who, engine->model_id());
            parts_.conversations.append(who.user_id, h.id, {"user", req->content(), 0, 0, ""});
            const InferenceOutcome out =
                run_inference(parts_, who, ctx, *engine, *admission, std::move(prompt), params, writer,
                              "conversation.send", "{\"conversation\":" + std::to_string(h.id) + "}");
            // What was generated is kept, even when the client stopped it early (the console shows it so).
            parts_.conversations.append(who.user_id, h.id, {"assistant", out.text, 0, out.generated_tokens, out.finish});
            return out.status;
        });
    }

private:
    ServerParts& parts_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_conversations_service(ServerParts& parts) {
    return std::make_unique<ConversationsService>(parts);
}

}  // namespace enclave::server::grpc_api
