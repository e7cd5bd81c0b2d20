// Auth: the first admin (bootstrap secret), login, logout, WhoAmI, own password.
#include "server/grpc/identity_common.h"

namespace enclave::server::identity_grpc {
namespace {

void fill(const sec::LoginResult& r, v1::LoginReply* reply) {
    reply->set_session_token(r.token);
    to_proto(r.user, reply->mutable_user());
    reply->set_idle_timeout_ms(r.idle_timeout_ms);
    reply->set_expires_ms(r.expires_ms);
}

class AuthService final : public v1::Auth::Service {
public:
    explicit AuthService(sec::SecurityService& s) : s_(s) {}

    grpc::Status BootstrapState(grpc::ServerContext* ctx, const v1::BootstrapStateRequest*,
                                v1::BootstrapStateReply* reply) override {
        try {
            authorize(s_, ctx, "/enclave.v1.Auth/BootstrapState");
            reply->set_needs_first_admin(s_.needs_first_admin());
            if (reply->needs_first_admin()) reply->set_secret_file(s_.bootstrap_secret_file().string());
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status Bootstrap(grpc::ServerContext* ctx, const v1::BootstrapRequest* req, v1::LoginReply* reply) override {
        try {
            authorize(s_, ctx, "/enclave.v1.Auth/Bootstrap");
            fill(s_.bootstrap(caller_of(*ctx), req->secret(), req->username(), req->password()), reply);
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status Login(grpc::ServerContext* ctx, const v1::LoginRequest* req, v1::LoginReply* reply) override {
        try {
            authorize(s_, ctx, "/enclave.v1.Auth/Login");
            fill(s_.login(caller_of(*ctx), req->username(), req->password()), reply);
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status Logout(grpc::ServerContext* ctx, const v1::LogoutRequest*, v1::LogoutReply*) override {
        try {
            s_.logout(authorize(s_, ctx, "/enclave.v1.Auth/Logout"));
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest*, v1::WhoAmIReply* reply) override {
        try {
            const auto who = authorize(s_, ctx, "/enclave.v1.Auth/WhoAmI");
            to_proto(s_.whoami(who), reply->mutable_user());
            // A key acts with its own role, which may be less than its owner's.
            reply->mutable_user()->set_role(to_proto(who.role));
            for (const auto& p : sec::permissions_of(who.role)) reply->add_permissions(p);
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status ChangePassword(grpc::ServerContext* ctx, const v1::ChangePasswordRequest* req,
                                v1::ChangePasswordReply*) override {
        try {
            const auto who = authorize(s_, ctx, "/enclave.v1.Auth/ChangePassword");
            if (who.api_key_id) throw sec::PermissionDenied("an API key cannot change its owner's password");
            s_.change_password(who, req->old_password(), req->new_password());
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

private:
    sec::SecurityService& s_;
};

}  // namespace

std::unique_ptr<grpc::Service> make_auth_service(sec::SecurityService& s) { return std::make_unique<AuthService>(s); }

}  // namespace enclave::server::identity_grpc
