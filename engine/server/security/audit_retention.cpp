#include "server/security/audit_retention.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace enclave::server::security {

AuditRetention::AuditRetention(SecurityService& security, std::filesystem::path archive_dir,
                               std::chrono::milliseconds period, std::function<void(const std::string&)> log)
    : security_(security), archive_dir_(std::move(archive_dir)), period_(period), log_(std::move(log)) {}

AuditRetention::~AuditRetention() {
    stop();
}

Principal AuditRetention::engine_principal() {
    Principal p;
    p.user_name = "engine";
    p.role = Role::admin;
    p.source = "engine pid=" + std::to_string(::getpid());
    p.credential_hash = "engine";
    p.audit_actor = "engine:retention";
    return p;
}

PruneResult AuditRetention::run_once() {
    const Principal me = engine_principal();
    ++runs_;
    try {
        PruneResult r = security_.prune_audit(me, archive_dir_);
        if (log_ && r.pruned > 0)
            log_("audit retention: archived " + std::to_string(r.pruned) + " records through seq " +
                 std::to_string(r.through_seq) + " to " + r.archive.string());
        return r;
    } catch (const std::exception& e) {
        ++failures_;
        if (log_) log_(std::string("audit retention: the prune failed: ") + e.what());
        try {
            security_.audit(me, {"AUDIT", "audit.prune", archive_dir_.string(), "error",
                                 nlohmann::json{{"reason", e.what()}}.dump()});
        } catch (const std::exception&) {
            // The log cannot be written either: fail-closed handling and its alert already cover that.
        }
        throw;
    }
}

void AuditRetention::start() {
    stop();
    stopping_ = false;
    thread_ = std::thread([this] {
        std::unique_lock lock(mutex_);
        while (!stopping_) {
            lock.unlock();
            try {
                run_once();
            } catch (const std::exception&) {
                // reported and audited by run_once; tried again next period
            }
            lock.lock();
            wake_.wait_for(lock, period_, [this] { return stopping_; });
        }
    });
}

void AuditRetention::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

}  // namespace enclave::server::security
