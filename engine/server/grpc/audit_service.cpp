// Audit: query with filters and paging, verify (streamed progress), export (streamed CSV or JSON).
#include "server/grpc/identity_common.h"
#include "server/grpc/identity_services.h"

namespace enclave::server::identity_grpc {

std::unique_ptr<grpc::Service> make_auth_service(sec::SecurityService& s);
std::unique_ptr<grpc::Service> make_users_service(sec::SecurityService& s);

namespace {

void to_proto(const sec::SecurityService::AuditView& v, v1::AuditRecord* out) {
    const auto& r = v.record;
    out->set_seq(r.seq);
    out->set_time_ms(r.time_ms);
    out->set_actor(r.actor);
    out->set_role(r.role);
    out->set_source(r.source);
    out->set_action_class(r.action_class);
    out->set_action(r.action);
    out->set_target(r.target);
    out->set_result(r.result);
    out->set_details(r.details);
    out->set_prev_hash(r.prev_hash);
    out->set_hash(r.hash);
    out->set_actor_name(v.actor_name);
    out->set_target_name(v.target_name);
}

class AuditService final : public v1::Audit::Service {
public:
    explicit AuditService(sec::SecurityService& s) : s_(s) {}

    grpc::Status Query(grpc::ServerContext* ctx, const v1::AuditQuery* req, v1::AuditPage* reply) override {
        try {
            const auto by = authorize(s_, ctx, "/enclave.v1.Audit/Query");
            const auto page = s_.query_audit(by, from_proto(*req), req->actor());
            for (const auto& r : page.records) to_proto(r, reply->add_records());
            reply->set_next_before_seq(page.next_before_seq);
            reply->set_total_matching(page.total_matching);
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status Verify(grpc::ServerContext* ctx, const v1::VerifyAuditRequest*,
                        grpc::ServerWriter<v1::VerifyAuditProgress>* writer) override {
        try {
            const auto by = authorize(s_, ctx, "/enclave.v1.Audit/Verify");
            const auto v = s_.verify_audit(by, [&](int64_t checked, int64_t total) {
                if (ctx->IsCancelled()) throw Error("verification cancelled by the client");
                v1::VerifyAuditProgress p;
                p.set_fraction(total ? static_cast<double>(checked) / static_cast<double>(total) : 1.0);
                p.set_records_checked(checked);
                writer->Write(p);
            });
            v1::VerifyAuditProgress done;
            done.set_fraction(1.0);
            done.set_done(true);
            done.set_ok(v.ok);
            done.set_records_checked(v.records_checked);
            done.set_first_bad_seq(v.first_bad_seq);
            done.set_problem(v.problem);
            writer->Write(done);
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

    grpc::Status Export(grpc::ServerContext* ctx, const v1::ExportAuditRequest* req,
                        grpc::ServerWriter<v1::ExportChunk>* writer) override {
        try {
            const auto by = authorize(s_, ctx, "/enclave.v1.Audit/Export");
            auto filter = from_proto(req->filter());
            filter.before_seq = 0;
            const std::string format = req->format().empty() ? "json" : req->format();
            double fraction = 0;  // of the matching records, in the chunk about to be written
            s_.export_audit(
                by, filter, req->filter().actor(), format,
                [&](const std::string& chunk) {
                    v1::ExportChunk c;
                    c.set_data(chunk);
                    c.set_fraction(fraction);
                    if (!writer->Write(c)) throw Error("the client went away during the export");
                },
                [&](double f) { fraction = f; });
            v1::ExportChunk last;
            last.set_fraction(1.0);
            writer->Write(last);
            return grpc::Status::OK;
        } catch (...) {
            return current_status();
        }
    }

private:
    sec::SecurityService& s_;
};

}  // namespace
}  // namespace enclave::server::identity_grpc

namespace enclave::server {

std::vector<std::unique_ptr<grpc::Service>> make_identity_services(security::SecurityService& security) {
    std::vector<std::unique_ptr<grpc::Service>> out;
    out.push_back(identity_grpc::make_auth_service(security));
    out.push_back(identity_grpc::make_users_service(security));
    out.push_back(std::make_unique<identity_grpc::AuditService>(security));
    return out;
}

}  // namespace enclave::server
