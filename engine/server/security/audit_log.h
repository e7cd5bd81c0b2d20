// The tamper-evident audit log: <state>/audit.db (SQLite, WAL, synchronous=FULL) plus <state>/audit.anchor.
//
// Guarantees
// - Append only: triggers refuse UPDATE and DELETE of records; the one sanctioned delete is prune(),
//   which first writes and verifies an archive of what it removes, and records itself in the chain.
// - Each record's hash is SHA-256(previous hash || canonical bytes), canonical bytes being every field
//   (seq, time, actor, role, source, class, action, target, result, details) as "<length>:<bytes>;".
//   The first record continues from 32 zero bytes, or from the hash a prune recorded (chain_base).
// - audit.anchor holds the last committed (seq, hash), written after each commit (two slots, each with
//   its own checksum, so a torn write leaves the other intact). verify() compares the table's tail with
//   it: records cut off the end are reported, not silently accepted.
// - append() returns only after the record is durable (fsync of the WAL). When it cannot be written
//   (disk full, I/O error, locked past the timeout) it throws AuditUnavailable, nothing is half-written,
//   and healthy() turns false until an append succeeds again.
// - Several processes may append at once (the engine and the CLI): each append reads the tail inside
//   its BEGIN IMMEDIATE transaction.
//
// Threads: all methods may be called from any thread. Appends serialise on one connection; query,
// verify and export open their own read connection, so a long export never blocks appends.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/security/authorizer.h"
#include "server/store/sqlite_db.h"

namespace enclave::server::security {

struct AuditRecordData {
    int64_t seq = 0;
    int64_t time_ms = 0;
    std::string actor;         // a user's pseudonym ("u-..."), "cli:<os user>" or "anonymous"
    std::string role;
    std::string source;
    std::string action_class;
    std::string action;
    std::string target;
    std::string result;
    std::string details;       // JSON
    std::string prev_hash;     // hex
    std::string hash;          // hex
};

struct AuditFilter {
    int64_t since_ms = 0;                   // 0: no lower bound
    int64_t until_ms = 0;                   // 0: no upper bound (inclusive)
    std::vector<std::string> actors;        // any of these actor strings; empty: all
    std::string action_class;
    std::string result;
    std::string text;                       // substring of target or details
    int64_t before_seq = 0;                 // paging (newest first): records older than this one
    int limit = 100;                        // 1..1000
};

struct AuditPageData {
    std::vector<AuditRecordData> records;   // newest first
    int64_t next_before_seq = 0;            // 0: no more
    int64_t total_matching = -1;            // -1: not counted (more than kCountCap)
};

struct VerifyResult {
    bool ok = true;
    int64_t records_checked = 0;
    int64_t first_bad_seq = 0;
    std::string problem;
    int64_t last_seq = 0;
};

struct PruneResult {
    int64_t pruned = 0;                     // records moved to the archive
    int64_t through_seq = 0;
    std::string continues_from;             // hex hash of record through_seq
    std::filesystem::path archive;
    std::string archive_sha256;
};

// One record as append() takes it (seq, time and hashes are the log's).
struct AuditInput {
    std::string actor, role, source;
    AuditEntry entry;
};

class AuditLog {
public:
    static constexpr int kMinRetentionDays = 180;
    static constexpr int64_t kCountCap = 1'000'000;

    struct Options {
        std::filesystem::path db_path;
        std::filesystem::path anchor_path;
        std::function<int64_t()> clock_ms;  // Unix ms
        int64_t max_page_count = 0;         // tests: a size limit that makes appends fail as a full disk would
        int busy_timeout_ms = 5000;
    };
    explicit AuditLog(Options options);  // creates the schema; throws store::StoreError when it cannot
    ~AuditLog();

    int64_t append(const AuditInput& record);  // the new seq; AuditUnavailable when not written
    bool healthy() const { return healthy_.load(); }
    uint64_t failures() const { return failures_.load(); }
    int64_t last_seq();

    // Checks the whole chain; progress(checked, total) is called every 65536 records.
    VerifyResult verify(const std::function<void(int64_t, int64_t)>& progress = {});
    AuditPageData query(const AuditFilter& filter);
    // Every matching record, oldest first, written as CSV or JSON (an array) in chunks to sink.
    // actor_name maps an actor string to a display name (empty when unknown or erased). progress, when given,
    // is told the fraction of the matching records written so far just before each chunk goes to sink.
    void export_records(const AuditFilter& filter, const std::string& format,
                        const std::function<std::string(const std::string&)>& actor_name,
                        const std::function<void(const std::string&)>& sink,
                        const std::function<void(double)>& progress = {});
    // Moves every record older than cutoff_ms (a prefix of the chain) into archive_dir/audit-<from>-<to>.jsonl,
    // verified after writing, then deletes them and appends an AUDIT audit.prune record (by `by`) that
    // names the archive and the hash the chain continues from. Refuses when the chain does not verify.
    PruneResult prune(int64_t cutoff_ms, const std::filesystem::path& archive_dir, const AuditInput& by);
    // Verifies an archive written by prune(): its records chain from its header's continues_from.
    static VerifyResult verify_archive(const std::filesystem::path& archive);

    // The canonical bytes and hash of a record (exposed for tests and docs).
    static std::string canonical_bytes(const AuditRecordData& r);
    static std::string chain_hash_hex(const std::string& prev_hash_hex, const AuditRecordData& r);

private:
    struct Anchor;
    store::Database open_reader() const;
    Options options_;
    std::mutex mutex_;  // guards db_ and the prepared statements
    std::optional<store::Database> db_;
    std::unique_ptr<Anchor> anchor_;
    std::atomic<bool> healthy_{true};
    std::atomic<uint64_t> failures_{0};
};

}  // namespace enclave::server::security
