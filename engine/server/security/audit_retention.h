// AuditRetention: the serve daemon's own retention of the audit log. A thread prunes once at start and
// then every `period` (a day in serve): records older than SecurityOptions::retention_days (180 days at
// least) are moved into a verified archive in `archive_dir` by SecurityService::prune_audit, which
// records the prune (audit.prune, with the archive's SHA-256 and the hash the chain continues from) in
// the chain itself. A failed prune (a broken chain, a full disk) is audited as audit.prune with result
// error when the log can still be written, and always reported through `log`; the engine keeps serving
// and tries again at the next period.
//
// Threads: run_once() may be called from any thread, also while the scheduler runs (prunes serialise in
// the audit log's write transaction).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "server/security/security_service.h"

namespace enclave::server::security {

class AuditRetention {
public:
    AuditRetention(SecurityService& security, std::filesystem::path archive_dir,
                   std::chrono::milliseconds period = std::chrono::hours(24),
                   std::function<void(const std::string&)> log = {});
    ~AuditRetention();  // stops the thread
    AuditRetention(const AuditRetention&) = delete;
    AuditRetention& operator=(const AuditRetention&) = delete;

    // One prune now. Throws what the prune threw (after auditing the failure).
    PruneResult run_once();
    void start();
    void stop();

    uint64_t runs() const { return runs_.load(); }
    uint64_t failures() const { return failures_.load(); }
    const std::filesystem::path& archive_dir() const { return archive_dir_; }

    // How the engine itself appears in the audit log when it prunes: actor "engine:retention".
    static Principal engine_principal();

private:
    SecurityService& security_;
    std::filesystem::path archive_dir_;
    std::chrono::milliseconds period_;
    std::function<void(const std::string&)> log_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
    std::atomic<uint64_t> runs_{0}, failures_{0};
};

}  // namespace enclave::server::security
