// Users: accounts, roles, limits, API keys and the GDPR export and erasure.
#include "server/grpc/identity_common.h"

namespace enclave::server::identity_grpc {
namespace {

class UsersService final : public v1::Users::Service {
public:
    explicit UsersService(sec::SecurityService& s) : s_(s) {}

    grpc::Status ListUsers(grpc::ServerContext* ctx, const v1::ListUsersRequest*, v1::ListUsersReply* reply) override {
        try {
            authorize(s_, ctx, "/enclave.v1.Users/ListUsers");
            for (const auto& u : s_.list_users()) to_proto(u, reply->add_users());
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status CreateUser(grpc::ServerContext* ctx, const v1::CreateUserRequest* req, v1::User* reply) override {
        try {
            const auto by = authorize(s_, ctx, "/enclave.v1.Users/CreateUser");
            to_proto(s_.create_user(by, req->name(), from_proto(req->role(), "role"), req->password(),
                                    from_proto(req->limits())),
                     reply);
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status UpdateUser(grpc::ServerContext* ctx, const v1::UpdateUserRequest* req, v1::User* reply) override {
        try {
            const auto by = authorize(s_, ctx, "/enclave.v1.Users/UpdateUser", "user:" + std::to_string(req->id()));
            sec::UserUpdate u;
            if (req->has_role()) u.role = from_proto(req->role(), "role");
            if (req->has_disabled()) u.disabled = req->disabled();
            if (req->has_new_password()) u.new_password = req->new_password();
            if (req->has_limits()) u.limits = from_proto(req->limits());
            to_proto(s_.update_user(by, req->id(), u), reply);
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status DeleteUser(grpc::ServerContext* ctx, const v1::DeleteUserRequest* req, v1::DeleteUserReply*) override {
        try {
            s_.delete_user(authorize(s_, ctx, "/enclave.v1.Users/DeleteUser", "user:" + std::to_string(req->id())),
                           req->id());
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status CreateKey(grpc::ServerContext* ctx, const v1::CreateKeyRequest* req, v1::CreateKeyReply* reply) override {
        try {
            const auto by = authorize(s_, ctx, "/enclave.v1.Users/CreateKey");
            if (by.api_key_id) throw sec::PermissionDenied("an API key cannot create keys");
            sec::KeySpec spec;
            spec.name = req->name();
            spec.user_id = req->user_id();
            if (req->role() != v1::ROLE_UNSPECIFIED) spec.role = from_proto(req->role(), "role");
            spec.models.assign(req->models().begin(), req->models().end());
            spec.expires_ms = req->expires_ms();
            spec.limits = from_proto(req->limits());
            const auto created = s_.create_key(by, spec);
            to_proto(created.key, reply->mutable_key());
            reply->set_secret(created.secret);
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status ListKeys(grpc::ServerContext* ctx, const v1::ListKeysRequest* req, v1::ListKeysReply* reply) override {
        try {
            const auto by = authorize(s_, ctx, "/enclave.v1.Users/ListKeys");
            for (const auto& k : s_.list_keys(by, req->user_id())) to_proto(k, reply->add_keys());
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status RevokeKey(grpc::ServerContext* ctx, const v1::RevokeKeyRequest* req, v1::RevokeKeyReply*) override {
        try {
            s_.revoke_key(authorize(s_, ctx, "/enclave.v1.Users/RevokeKey", "key:" + std::to_string(req->id())),
                          req->id());
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status ExportUserData(grpc::ServerContext* ctx, const v1::ExportUserDataRequest* req,
                                v1::ExportUserDataReply* reply) override {
        try {
            const auto by = authorize(s_, ctx, "/enclave.v1.Users/ExportUserData");
            reply->set_json(s_.export_user_data(by, req->user_id()));
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status EraseUserData(grpc::ServerContext* ctx, const v1::EraseUserDataRequest* req,
                               v1::EraseUserDataReply* reply) override {
        try {
            const auto by = authorize(s_, ctx, "/enclave.v1.Users/EraseUserData");
            reply->set_pseudonym(s_.erase_user_data(by, req->user_id()));
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

private:
    sec::SecurityService& s_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_users_service(sec::SecurityService& s) { return std::make_unique<UsersService>(s); }

}  // namespace enclave::server::identity_grpc
