#include "identity_client.h"

#include <grpcpp/grpcpp.h>
#include <pwd.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>

#include "enclave.grpc.pb.h"
#include "server/security/permissions.h"

namespace enclave::cli {

namespace v1 = enclave::v1;

int64_t IdentityClient::user_id(const std::string& name) {
    for (const auto& u : list_users())
        if (u.name == name) return u.id;
    throw UsageError("no user named '" + name + "'");
}

sec::Role parse_role(const std::string& s) {
    if (auto r = sec::role_from_name(s)) return *r;
    throw UsageError("--role must be admin, analyst or auditor (got '" + s + "')");
}

namespace {

std::string os_user() {
    if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_name) return pw->pw_name;
    return "uid" + std::to_string(::getuid());
}

std::string default_state_dir() {
    if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x) return std::string(x) + "/enclave";
    if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/state/enclave";
    throw UsageError("--state-dir is needed: neither XDG_STATE_HOME nor HOME is set");
}

// ---- the state directory, directly -------------------------------------------------------------

class DirectClient final : public IdentityClient {
public:
    explicit DirectClient(const std::string& dir) : who_(sec::SecurityService::cli_principal(os_user())) {
        sec::SecurityOptions o;
        o.state_dir = dir;
        s_ = std::make_unique<sec::SecurityService>(o);
    }
    std::vector<sec::UserInfo> list_users() override {
        s_->audit(who_, {"USER", "user.list", "", "ok", "{}"});
        return s_->list_users();
    }
    sec::UserInfo create_user(const std::string& name, sec::Role role, const std::string& password) override {
        return s_->create_user(who_, name, role, password);
    }
    sec::UserInfo update_user(int64_t id, const sec::UserUpdate& u) override { return s_->update_user(who_, id, u); }
    sec::CreatedKey create_key(const sec::KeySpec& spec) override { return s_->create_key(who_, spec); }
    std::vector<sec::ApiKeyInfo> list_keys(int64_t user_id) override {
        s_->audit(who_, {"KEY", "key.list", "", "ok", "{}"});
        return s_->list_keys(who_, user_id);
    }
    void revoke_key(int64_t id) override { s_->revoke_key(who_, id); }
    sec::VerifyResult verify() override { return s_->verify_audit(who_); }
    sec::SecurityService::AuditViewPage query(const sec::AuditFilter& f, const std::string& actor) override {
        return s_->query_audit(who_, f, actor);
    }
    void export_audit(const sec::AuditFilter& f, const std::string& actor, const std::string& format,
                      const std::function<void(const std::string&)>& sink) override {
        s_->export_audit(who_, f, actor, format, sink);
    }

private:
    sec::Principal who_;
    std::unique_ptr<sec::SecurityService> s_;
};

// ---- a running engine, over its socket ----------------------------------------------------------

v1::Role to_proto(sec::Role r) {
    return r == sec::Role::admin ? v1::ROLE_ADMIN : r == sec::Role::auditor ? v1::ROLE_AUDITOR : v1::ROLE_ANALYST;
}
sec::Role from_proto(v1::Role r) {
    return r == v1::ROLE_ADMIN ? sec::Role::admin : r == v1::ROLE_AUDITOR ? sec::Role::auditor : sec::Role::analyst;
}
sec::Limits from_proto(const v1::Limits& l) {
    return {l.requests_per_minute(), l.tokens_per_minute(), l.concurrent_streams()};
}
sec::UserInfo from_proto(const v1::User& u) {
    sec::UserInfo o;
    o.id = u.id();
    o.name = u.name();
    o.role = from_proto(u.role());
    o.disabled = u.disabled();
    o.created_ms = u.created_ms();
    o.last_login_ms = u.last_login_ms();
    o.locked_until_ms = u.locked_until_ms();
    o.limits = from_proto(u.limits());
    return o;
}
sec::ApiKeyInfo from_proto(const v1::ApiKey& k) {
    sec::ApiKeyInfo o;
    o.id = k.id();
    o.name = k.name();
    o.prefix = k.prefix();
    o.user_id = k.user_id();
    o.role = from_proto(k.role());
    o.models.assign(k.models().begin(), k.models().end());
    o.created_ms = k.created_ms();
    o.expires_ms = k.expires_ms();
    o.revoked = k.revoked();
    o.limits = from_proto(k.limits());
    return o;
}
v1::AuditQuery to_proto(const sec::AuditFilter& f, const std::string& actor) {
    v1::AuditQuery q;
    q.set_since_ms(f.since_ms);
    q.set_until_ms(f.until_ms);
    q.set_actor(actor);
    q.set_action_class(f.action_class);
    q.set_result(f.result);
    q.set_text(f.text);
    q.set_before_seq(f.before_seq);
    q.set_limit(f.limit);
    return q;
}

// Where the engine is, as the messages name it; set by engine_channel().
std::string engine_address;
bool engine_over_tls = false;

void check(const grpc::Status& s, const char* what) {
    if (s.ok()) return;
    std::string hint;
    if (s.error_code() == grpc::StatusCode::UNAVAILABLE)
        hint = engine_over_tls ? " (no engine at " + engine_address +
                                     ", or the TLS handshake failed: its certificate must chain to --tls-ca and name the "
                                     "host of --connect or --tls-server-name)"
                               : " (no engine listening on " + engine_address + ")";
    throw Error(std::string(what) + ": " + s.error_message() + hint + " (gRPC status " +
                std::to_string(s.error_code()) + ")");
}

std::string read_file(const std::string& path, const char* flag) {
    std::ifstream in(path);
    if (!in) throw UsageError(std::string("cannot read --") + flag + " " + path);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

// --socket PATH, or --connect HOST:PORT over TLS (certificate and host name verified by gRPC).
std::shared_ptr<grpc::Channel> engine_channel(const Args& args) {
    if (const auto socket = args.get("socket")) {
        engine_address = "unix:" + *socket;
        return grpc::CreateChannel(engine_address, grpc::InsecureChannelCredentials());
    }
    const auto connect = args.get("connect");
    if (!connect) throw UsageError("--socket PATH or --connect HOST:PORT is needed");
    if (connect->rfind(':') == std::string::npos) throw UsageError("--connect needs HOST:PORT (got '" + *connect + "')");
    grpc::SslCredentialsOptions tls;
    if (const auto ca = args.get("tls-ca")) tls.pem_root_certs = read_file(*ca, "tls-ca");
    if (args.has("tls-cert") != args.has("tls-key")) throw UsageError("--tls-cert and --tls-key go together");
    if (const auto cert = args.get("tls-cert")) {
        tls.pem_cert_chain = read_file(*cert, "tls-cert");
        tls.pem_private_key = read_file(*args.get("tls-key"), "tls-key");
    }
    grpc::ChannelArguments channel_args;
    if (const auto name = args.get("tls-server-name")) channel_args.SetSslTargetNameOverride(*name);
    engine_address = *connect;
    engine_over_tls = true;
    return grpc::CreateCustomChannel(*connect, grpc::SslCredentials(tls), channel_args);
}

class SocketClient final : public IdentityClient {
public:
    SocketClient(const std::shared_ptr<grpc::Channel>& channel, std::string session) : session_(std::move(session)) {
        users_ = v1::Users::NewStub(channel);
        audit_ = v1::Audit::NewStub(channel);
    }
    std::vector<sec::UserInfo> list_users() override {
        v1::ListUsersReply r;
        auto c = ctx();
        check(users_->ListUsers(c.get(), {}, &r), "ListUsers");
        std::vector<sec::UserInfo> out;
        for (const auto& u : r.users()) out.push_back(from_proto(u));
        return out;
    }
    sec::UserInfo create_user(const std::string& name, sec::Role role, const std::string& password) override {
        v1::CreateUserRequest q;
        q.set_name(name);
        q.set_role(to_proto(role));
        q.set_password(password);
        v1::User r;
        auto c = ctx();
        check(users_->CreateUser(c.get(), q, &r), "CreateUser");
        return from_proto(r);
    }
    sec::UserInfo update_user(int64_t id, const sec::UserUpdate& u) override {
        v1::UpdateUserRequest q;
        q.set_id(id);
        if (u.role) q.set_role(to_proto(*u.role));
        if (u.disabled) q.set_disabled(*u.disabled);
        if (u.new_password) q.set_new_password(*u.new_password);
        v1::User r;
        auto c = ctx();
        check(users_->UpdateUser(c.get(), q, &r), "UpdateUser");
        return from_proto(r);
    }
    sec::CreatedKey create_key(const sec::KeySpec& spec) override {
        v1::CreateKeyRequest q;
        q.set_name(spec.name);
        q.set_user_id(spec.user_id);
        if (spec.role) q.set_role(to_proto(*spec.role));
        for (const auto& m : spec.models) q.add_models(m);
        q.set_expires_ms(spec.expires_ms);
        v1::CreateKeyReply r;
        auto c = ctx();
        check(users_->CreateKey(c.get(), q, &r), "CreateKey");
        return {from_proto(r.key()), r.secret()};
    }
    std::vector<sec::ApiKeyInfo> list_keys(int64_t user_id) override {
        v1::ListKeysRequest q;
        q.set_user_id(user_id);
        v1::ListKeysReply r;
        auto c = ctx();
        check(users_->ListKeys(c.get(), q, &r), "ListKeys");
        std::vector<sec::ApiKeyInfo> out;
        for (const auto& k : r.keys()) out.push_back(from_proto(k));
        return out;
    }
    void revoke_key(int64_t id) override {
        v1::RevokeKeyRequest q;
        q.set_id(id);
        v1::RevokeKeyReply r;
        auto c = ctx();
        check(users_->RevokeKey(c.get(), q, &r), "RevokeKey");
    }
    sec::VerifyResult verify() override {
        auto c = ctx();
        auto reader = audit_->Verify(c.get(), {});
        v1::VerifyAuditProgress p;
        sec::VerifyResult v;
        while (reader->Read(&p))
            if (p.done()) {
                v.ok = p.ok();
                v.records_checked = p.records_checked();
                v.first_bad_seq = p.first_bad_seq();
                v.problem = p.problem();
            }
        check(reader->Finish(), "Verify");
        return v;
    }
    sec::SecurityService::AuditViewPage query(const sec::AuditFilter& f, const std::string& actor) override {
        v1::AuditPage r;
        auto c = ctx();
        check(audit_->Query(c.get(), to_proto(f, actor), &r), "Query");
        sec::SecurityService::AuditViewPage out;
        out.next_before_seq = r.next_before_seq();
        out.total_matching = r.total_matching();
        for (const auto& x : r.records()) {
            sec::SecurityService::AuditView v;
            v.record = {x.seq(),    x.time_ms(), x.actor(),   x.role(),    x.source(),    x.action_class(),
                        x.action(), x.target(),  x.result(),  x.details(), x.prev_hash(), x.hash()};
            v.actor_name = x.actor_name();
            v.target_name = x.target_name();
            out.records.push_back(std::move(v));
        }
        return out;
    }
    void export_audit(const sec::AuditFilter& f, const std::string& actor, const std::string& format,
                      const std::function<void(const std::string&)>& sink) override {
        v1::ExportAuditRequest q;
        *q.mutable_filter() = to_proto(f, actor);
        q.set_format(format);
        auto c = ctx();
        auto reader = audit_->Export(c.get(), q);
        v1::ExportChunk chunk;
        while (reader->Read(&chunk))
            if (!chunk.data().empty()) sink(chunk.data());
        check(reader->Finish(), "Export");
    }

private:
    std::unique_ptr<grpc::ClientContext> ctx() {
        auto c = std::make_unique<grpc::ClientContext>();
        c->AddMetadata("authorization", "Bearer " + session_);
        return c;
    }
    std::string session_;
    std::unique_ptr<v1::Users::Stub> users_;
    std::unique_ptr<v1::Audit::Stub> audit_;
};

}  // namespace

std::unique_ptr<IdentityClient> open_identity_client(const Args& args) {
    if (args.has("socket") || args.has("connect")) {
        if (args.has("socket") && args.has("connect")) throw UsageError("--socket or --connect, not both");
        if (args.has("state-dir")) throw UsageError("--state-dir or --socket/--connect, not both");
        std::string session = args.get_or("session", "");
        if (session.empty())
            if (const char* e = std::getenv("ENCLAVE_SESSION")) session = e;
        if (session.empty())
            throw UsageError("--socket and --connect need a session: --session TOKEN or $ENCLAVE_SESSION "
                             "(enclave-engine login prints one)");
        return std::make_unique<SocketClient>(engine_channel(args), session);
    }
    const std::string dir = args.get_or("state-dir", default_state_dir());
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec))
        throw UsageError("no engine state directory at " + dir +
                         " (--state-dir names the directory the engine was started with; a new one is created "
                         "by the engine's first start)");
    return std::make_unique<DirectClient>(dir);
}

std::string login_through_engine(const Args& args, const std::string& name, const std::string& password) {
    auto auth = v1::Auth::NewStub(engine_channel(args));
    v1::LoginRequest q;
    q.set_username(name);
    q.set_password(password);
    v1::LoginReply r;
    grpc::ClientContext c;
    c.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    check(auth->Login(&c, q, &r), "Login");
    return r.session_token();
}

std::string read_password(const Args& args, const char* prompt, bool confirm) {
    if (const auto file = args.get("password-file")) {
        std::string line;
        if (*file == "-") {
            std::getline(std::cin, line);
        } else {
            std::ifstream in(*file);
            if (!in) throw UsageError("cannot read --password-file " + *file);
            std::getline(in, line);
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return line;
    }
    FILE* tty = std::fopen("/dev/tty", "r+");
    if (!tty) throw UsageError("no terminal to ask for the password: use --password-file FILE (or - for stdin)");
    auto ask = [&](const char* text) {
        std::fputs(text, tty);
        std::fflush(tty);
        termios old {};
        tcgetattr(fileno(tty), &old);
        termios quiet = old;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
        char buf[1100] = {};
        const bool ok = std::fgets(buf, sizeof buf, tty) != nullptr;
        tcsetattr(fileno(tty), TCSAFLUSH, &old);
        std::fputs("\n", tty);
        std::string s = ok ? buf : "";
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        return s;
    };
    const std::string p = ask(prompt);
    if (confirm && ask("again: ") != p) {
        std::fclose(tty);
        throw UsageError("the passwords differ");
    }
    std::fclose(tty);
    return p;
}

}  // namespace enclave::cli
