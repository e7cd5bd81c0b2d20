// Audit log numbers: argon2id time per hash, durable append rate, and the auditor's query over a large
// log (a 6-month window out of N records spread over 2 years, newest first, one page of 100 with the
// total counted, plus an actor and a class filter). Writes the big log fast but honestly: every record
// has its real canonical bytes and chain hash (as AuditLog::append computes them) and goes through the
// schema's insert trigger; only durability is traded for speed (synchronous=OFF, 250,000 records per
// transaction, a 1 GiB page cache) and the four query indexes are dropped during the load and rebuilt
// after it from the schema's own CREATE INDEX statements (a sort instead of 10 M random B-tree inserts).
// Then it queries through AuditLog::query and verifies the whole chain through AuditLog::verify.
// usage: enclave-audit-bench DIR [records=10000000]   (DIR/big is reused when it exists)
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "server/security/audit_log.h"
#include "server/security/crypto.h"
#include "server/store/sqlite_db.h"

using namespace enclave::server::security;
using enclave::server::store::Database;
using Clock = std::chrono::steady_clock;

static double secs(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: enclave-audit-bench DIR [records]\n");
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    const int64_t n = argc > 2 ? std::stoll(argv[2]) : 10'000'000;
    std::filesystem::create_directories(dir);
    {
        PasswordHasher h(3, 64u << 20);
        auto t0 = Clock::now();
        const auto s = h.hash("Correct-Horse-42");
        const double th = secs(t0);
        t0 = Clock::now();
        h.verify(s, "Correct-Horse-42");
        std::printf("argon2id t=3 m=64MiB: hash %.3f s, verify %.3f s\n", th, secs(t0));
        PasswordHasher f(PasswordHasher::kMinOpsLimit, PasswordHasher::kMinMemLimit);
        t0 = Clock::now();
        f.hash("Correct-Horse-42");
        std::printf("argon2id t=2 m=19MiB (OWASP floor): hash %.3f s\n", secs(t0));
    }
    {
        std::filesystem::remove_all(dir / "append");
        std::filesystem::create_directories(dir / "append");
        AuditLog log({dir / "append" / "audit.db", dir / "append" / "audit.anchor", {}, 0, 5000});
        const auto t0 = Clock::now();
        int k = 0;
        while (secs(t0) < 3.0) {
            log.append({"u-0123456789abcdef01234567", "analyst", "socket uid=1000 pid=1",
                        {"INFERENCE", "chat.completions", "smollm2", "ok", R"({"prompt_tokens":120,"generated_tokens":256})"}});
            ++k;
        }
        std::printf("durable appends (WAL, synchronous=FULL, anchor fdatasync): %.0f records/s\n", k / secs(t0));
    }
    const auto big = dir / "big";
    if (!std::filesystem::exists(big / "audit.db")) {
        std::filesystem::create_directories(big);
        { AuditLog log({big / "audit.db", big / "audit.anchor", {}, 0, 5000}); }
        auto db = Database::open(big / "audit.db");
        db.exec("PRAGMA synchronous=OFF");
        db.exec("PRAGMA cache_size=-1048576");  // KiB: 1 GiB
        std::vector<std::string> indexes;       // the schema's own statements, rebuilt after the load
        {
            auto q = db.prepare("SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name='audit' AND sql IS NOT NULL");
            std::vector<std::string> names;
            while (q.step()) {
                names.push_back(q.column_text(0));
                indexes.push_back(q.column_text(1));
            }
            for (const auto& name : names) db.exec("DROP INDEX " + name);
        }
        const auto t0 = Clock::now();
        const int64_t start = 1'700'000'000'000, span = int64_t{730} * 86'400'000;  // two years
        std::string prev(32, '\0');
        auto ins = db.prepare("INSERT INTO audit VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
        const char* classes[] = {"INFERENCE", "INFERENCE", "INFERENCE", "AUTH", "MODEL", "AUDIT", "USER", "KEY"};
        constexpr int64_t kBatch = 250'000;
        for (int64_t i = 1; i <= n; ++i) {
            if (i % kBatch == 1) db.exec("BEGIN");
            AuditRecordData r;
            r.seq = i;
            r.time_ms = start + span * i / n;
            r.actor = "u-" + std::to_string(100000 + i % 500);
            r.role = "analyst";
            r.source = "http 127.0.0.1:5050";
            r.action_class = classes[i % 8];
            r.action = "event";
            r.target = "smollm2";
            r.result = i % 50 ? "ok" : "denied";
            r.details = R"({"prompt_tokens":120,"generated_tokens":256})";
            const Sha256 h = sha256(prev + AuditLog::canonical_bytes(r));
            const std::string hs(reinterpret_cast<const char*>(h.data()), 32);
            ins.bind(1, r.seq).bind(2, r.time_ms).bind(3, r.actor).bind(4, r.role).bind(5, r.source);
            ins.bind(6, r.action_class).bind(7, r.action).bind(8, r.target).bind(9, r.result).bind(10, r.details);
            ins.bind_blob(11, prev.data(), 32).bind_blob(12, hs.data(), 32);
            ins.run();
            ins.reset();
            prev = hs;
            if (i % kBatch == 0 || i == n) {
                db.exec("COMMIT");
                if (i % (kBatch * 8) == 0) std::printf("  %lld records, %.0f s\n", static_cast<long long>(i), secs(t0));
                std::fflush(stdout);
            }
        }
        std::printf("inserted %lld records in %.1f s\n", static_cast<long long>(n), secs(t0));
        const auto ti = Clock::now();
        for (const auto& sql : indexes) db.exec(sql);
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
        std::printf("built %zu indexes in %.1f s\n", indexes.size(), secs(ti));
        std::printf("wrote %lld records in %.1f s\n", static_cast<long long>(n), secs(t0));
    }
    AuditLog log({big / "audit.db", big / "audit.anchor", {}, 0, 5000});
    const int64_t start = 1'700'000'000'000, day = 86'400'000;
    struct Case {
        const char* name;
        AuditFilter f;
    };
    AuditFilter six;  // a 6-month window in the middle of the two years
    six.since_ms = start + 200 * day;
    six.until_ms = start + 383 * day;
    AuditFilter actor = six;
    actor.actors = {"u-100042"};
    AuditFilter cls = six;
    cls.action_class = "AUTH";
    AuditFilter denied = six;
    denied.result = "denied";
    AuditFilter text = six;
    text.text = "generated_tokens\":256";
    for (const Case& c : {Case{"6 months, newest first", six}, Case{"6 months + actor", actor},
                          Case{"6 months + class", cls}, Case{"6 months + result", denied},
                          Case{"6 months + text", text}}) {
        auto t0 = Clock::now();
        const auto p = log.query(c.f);
        const double first = secs(t0);
        AuditFilter next = c.f;
        next.before_seq = p.next_before_seq;
        t0 = Clock::now();
        const auto p2 = log.query(next);
        std::printf("%-24s page 1: %.3f s (%zu records, total %lld), page 2: %.3f s\n", c.name, first,
                    p.records.size(), static_cast<long long>(p.total_matching), secs(t0));
        (void)p2;
    }
    const auto tv = Clock::now();
    const auto v = log.verify();
    std::printf("verify: %s, %lld records in %.1f s%s%s\n", v.ok ? "ok" : "BROKEN", static_cast<long long>(v.records_checked),
                secs(tv), v.ok ? "" : ": ", v.problem.c_str());
    return 0;
}
