// The audit log: append-only triggers, verification that names the first broken record after each kind
// of tampering (a flipped byte in the file, a deleted record, two swapped records, a cut-off tail),
// kill -9 while writing (50 times), a file-size limit acting as a full disk, query paging, export, the
// retention prune into a verified archive (and the serve daemon's retention thread), and GDPR erasure that keeps the chain verifiable.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "check.h"
#include "security_test_util.h"
#include "server/security/audit_retention.h"
#include "server/store/sqlite_db.h"

using namespace sec_test;
using enclave::server::store::Database;
using enclave::server::store::StoreError;

namespace {

AuditLog::Options log_options(const fs::path& dir, const Clock& clock) {
    AuditLog::Options o;
    o.db_path = dir / "audit.db";
    o.anchor_path = dir / "audit.anchor";
    o.clock_ms = clock.fn();
    return o;
}

AuditInput rec(const std::string& actor, const std::string& cls, const std::string& details = "{}",
               const std::string& result = "ok") {
    return {actor, "analyst", "socket uid=1000 pid=1", {cls, "test.event", "target", result, details}};
}

// Opens the file behind the log's back, as someone with file access would, without the guard triggers.
Database tamper(const fs::path& dir) {
    auto db = Database::open(dir / "audit.db");
    db.exec("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DROP TRIGGER audit_in_order");
    return db;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

bool file_contains(const fs::path& p, const std::string& needle) {
    return fs::exists(p) && slurp(p).find(needle) != std::string::npos;
}

}  // namespace

ENCLAVE_TEST(records_chain_and_triggers_refuse_changes) {
    Clock clock;
    const auto dir = fresh_dir("chain");
    AuditLog log(log_options(dir, clock));
    for (int i = 0; i < 10; ++i) CHECK_EQ(log.append(rec("u-a", "AUTH")), int64_t{i + 1});
    const VerifyResult v = log.verify();
    CHECK(v.ok);
    CHECK_EQ(v.records_checked, int64_t{10});
    auto db = Database::open(dir / "audit.db");
    CHECK_THROWS_WITH(db.exec("UPDATE audit SET result = 'ok' WHERE seq = 3"), StoreError, "append-only");
    CHECK_THROWS_WITH(db.exec("DELETE FROM audit WHERE seq = 10"), StoreError, "append-only");
    CHECK_THROWS_WITH(db.exec("INSERT INTO audit SELECT seq + 100, time_ms, actor, role, source, action_class, action, "
                              "target, result, details, prev_hash, hash FROM audit WHERE seq = 1"),
                      StoreError, "in sequence");
    CHECK(log.verify().ok);
    // The canonical bytes are documented: a record's hash is recomputable from its exported fields.
    const auto page = log.query(AuditFilter{});
    REQUIRE(!page.records.empty());
    const auto& r = page.records.front();
    CHECK_EQ(AuditLog::chain_hash_hex(r.prev_hash, r), r.hash);
}

ENCLAVE_TEST(a_flipped_byte_in_the_file_is_found) {
    Clock clock;
    const auto dir = fresh_dir("flip");
    {
        AuditLog log(log_options(dir, clock));
        for (int i = 1; i <= 20; ++i)
            log.append(rec("u-a", "MODEL", i == 13 ? R"({"note":"MARKER-FLIP-ME"})" : R"({"note":"plain"})"));
    }
    {
        auto db = Database::open(dir / "audit.db");
        db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    std::string bytes = slurp(dir / "audit.db");
    const auto at = bytes.find("MARKER-FLIP-ME");
    REQUIRE(at != std::string::npos);
    bytes[at + 7] ^= 0x01;  // 'F' -> 'G'
    std::ofstream(dir / "audit.db", std::ios::binary | std::ios::trunc) << bytes;
    AuditLog log(log_options(dir, clock));
    const VerifyResult v = log.verify();
    CHECK(!v.ok);
    CHECK_EQ(v.first_bad_seq, int64_t{13});
    CHECK_MSG(v.problem.find("changed") != std::string::npos, v.problem);
}

ENCLAVE_TEST(a_deleted_record_is_found) {
    Clock clock;
    const auto dir = fresh_dir("delete");
    AuditLog log(log_options(dir, clock));
    for (int i = 0; i < 20; ++i) log.append(rec("u-a", "USER"));
    tamper(dir).exec("DELETE FROM audit WHERE seq = 7");
    const VerifyResult v = log.verify();
    CHECK(!v.ok);
    CHECK_EQ(v.first_bad_seq, int64_t{7});
    CHECK_MSG(v.problem.find("missing") != std::string::npos, v.problem);
}

ENCLAVE_TEST(deleting_and_renumbering_is_found) {
    // Cover the gap by renumbering everything after it: the chain of prev hashes still breaks.
    Clock clock;
    const auto dir = fresh_dir("renumber");
    AuditLog log(log_options(dir, clock));
    for (int i = 0; i < 20; ++i) log.append(rec("u-a", "USER"));
    auto db = tamper(dir);
    db.exec("DELETE FROM audit WHERE seq = 7; UPDATE audit SET seq = seq - 1 WHERE seq > 7");
    const VerifyResult v = log.verify();
    CHECK(!v.ok);
    CHECK_EQ(v.first_bad_seq, int64_t{7});
}

ENCLAVE_TEST(two_swapped_records_are_found) {
    Clock clock;
    const auto dir = fresh_dir("swap");
    AuditLog log(log_options(dir, clock));
    for (int i = 0; i < 20; ++i) log.append(rec("u-" + std::to_string(i), "KEY"));
    auto db = tamper(dir);
    // Exchange everything but the sequence numbers of records 9 and 10.
    db.exec("UPDATE audit SET seq = -9 WHERE seq = 9; UPDATE audit SET seq = 9 WHERE seq = 10; "
            "UPDATE audit SET seq = 10 WHERE seq = -9");
    const VerifyResult v = log.verify();
    CHECK(!v.ok);
    CHECK_EQ(v.first_bad_seq, int64_t{9});
}

ENCLAVE_TEST(a_truncated_tail_is_found_through_the_anchor) {
    Clock clock;
    const auto dir = fresh_dir("truncate");
    AuditLog log(log_options(dir, clock));
    for (int i = 0; i < 20; ++i) log.append(rec("u-a", "AUTH"));
    tamper(dir).exec("DELETE FROM audit WHERE seq > 17");
    const VerifyResult v = log.verify();
    CHECK(!v.ok);
    CHECK_EQ(v.first_bad_seq, int64_t{18});
    CHECK_MSG(v.problem.find("missing at the end") != std::string::npos, v.problem);
}

ENCLAVE_TEST(kill_9_while_writing_loses_no_committed_record) {
    // A child appends as fast as it can and reports each seq once append() returned; we kill it at a
    // random moment. Every reported record must be there, the file intact and the chain whole. 50 times.
    Clock clock;
    const auto dir = fresh_dir("kill9");
    std::mt19937 rng(1234);
    int64_t total_reported = 0;
    for (int round = 0; round < 50; ++round) {
        int fds[2];
        REQUIRE(pipe(fds) == 0);
        const pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            try {
                AuditLog log(log_options(dir, clock));
                for (;;) {
                    const int64_t seq = log.append(rec("u-writer", "INFERENCE", R"({"tokens":42})"));
                    if (write(fds[1], &seq, sizeof seq) != sizeof seq) _exit(3);
                }
            } catch (...) {
                _exit(2);
            }
        }
        close(fds[1]);
        int64_t last = 0, got = 0;
        const int wait_records = 1 + static_cast<int>(rng() % 40);
        while (got < wait_records && read(fds[0], &last, sizeof last) == sizeof last) ++got;
        kill(pid, SIGKILL);
        int64_t seq = 0;
        while (read(fds[0], &seq, sizeof seq) == sizeof seq) last = seq;  // reported before it died
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        REQUIRE(WIFSIGNALED(status));
        total_reported += got;
        AuditLog log(log_options(dir, clock));
        auto db = Database::open(dir / "audit.db");
        CHECK_EQ(db.integrity_check(), std::string("ok"));
        const VerifyResult v = log.verify();
        CHECK_MSG(v.ok, "round " + std::to_string(round) + ": " + v.problem);
        CHECK_MSG(v.last_seq >= last, "round " + std::to_string(round) + ": last reported " + std::to_string(last) +
                                          ", last present " + std::to_string(v.last_seq));
        if (!v.ok) break;
    }
    CHECK(total_reported >= 50);
}

ENCLAVE_TEST(a_file_size_limit_fails_closed_without_losing_records) {
    // RLIMIT_FSIZE in a child is the unprivileged stand-in for a full disk.
    Clock clock;
    const auto dir = fresh_dir("fsize");
    {
        AuditLog log(log_options(dir, clock));
        log.append(rec("u-a", "AUTH"));
    }
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        signal(SIGXFSZ, SIG_IGN);  // a write past the limit then fails with EFBIG instead of killing us
        struct rlimit lim = {256 << 10, 256 << 10};
        setrlimit(RLIMIT_FSIZE, &lim);
        int code = 4;
        try {
            AuditLog log(log_options(dir, clock));
            for (int i = 0; i < 100000; ++i) {
                const int64_t seq = log.append(rec("u-a", "INFERENCE", "{\"pad\":\"" + std::string(900, 'p') + "\"}"));
                if (write(fds[1], &seq, sizeof seq) != sizeof seq) _exit(3);
            }
        } catch (const AuditUnavailable&) {
            code = 0;  // refused, as it must be
        } catch (...) {
            code = 5;
        }
        _exit(code);
    }
    close(fds[1]);
    int64_t last = 0, seq = 0;
    while (read(fds[0], &seq, sizeof seq) == sizeof seq) last = seq;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(last > 10);
    AuditLog log(log_options(dir, clock));
    auto db = Database::open(dir / "audit.db");
    CHECK_EQ(db.integrity_check(), std::string("ok"));
    const VerifyResult v = log.verify();
    CHECK_MSG(v.ok, v.problem);
    CHECK_EQ(v.last_seq, last);
    CHECK(log.append(rec("u-a", "AUTH")) == last + 1);  // writable again once space is back
}

ENCLAVE_TEST(query_pages_through_filters_newest_first) {
    Clock clock;
    const auto dir = fresh_dir("query");
    AuditLog log(log_options(dir, clock));
    auto db = Database::open(dir / "audit.db");
    for (int i = 0; i < 2500; ++i) {
        clock.advance(1000);
        log.append(rec(i % 2 ? "u-odd" : "u-even", i % 5 ? "INFERENCE" : "AUTH",
                       i == 1234 ? R"({"needle":"findme"})" : "{}", i % 7 ? "ok" : "denied"));
    }
    AuditFilter f;
    f.actors = {"u-odd"};
    f.action_class = "INFERENCE";
    f.limit = 300;
    std::vector<int64_t> seen;
    int64_t total = -2;
    for (;;) {
        const auto page = log.query(f);
        if (total == -2) total = page.total_matching;
        for (const auto& r : page.records) {
            CHECK(r.actor == "u-odd" && r.action_class == "INFERENCE");
            if (!seen.empty()) CHECK(r.seq < seen.back());
            seen.push_back(r.seq);
        }
        if (!page.next_before_seq) break;
        f.before_seq = page.next_before_seq;
    }
    CHECK_EQ(static_cast<int64_t>(seen.size()), int64_t{1000});  // odd i and i % 5 != 0
    CHECK_EQ(total, int64_t{1000});
    AuditFilter t;
    t.text = "findme";
    const auto hit = log.query(t);
    REQUIRE(hit.records.size() == 1);
    CHECK_EQ(hit.records[0].seq, int64_t{1235});
    AuditFilter range;
    range.since_ms = 1'750'000'000'000 + 1000 * 100;
    range.until_ms = 1'750'000'000'000 + 1000 * 199;
    range.result = "denied";
    const auto r = log.query(range);
    for (const auto& x : r.records) CHECK(x.time_ms >= range.since_ms && x.time_ms <= range.until_ms);
    CHECK_EQ(r.total_matching, static_cast<int64_t>(r.records.size()));
    CHECK(r.records.size() >= 14 && r.records.size() <= 15);
    CHECK_THROWS_WITH(log.query(AuditFilter{0, 0, {}, "", "", "", 0, 5000}), enclave::InvalidArgument, "limit");
}

ENCLAVE_TEST(export_csv_and_json_carry_the_hashes) {
    Clock clock;
    const auto dir = fresh_dir("export");
    AuditLog log(log_options(dir, clock));
    for (int i = 0; i < 5; ++i) log.append(rec("u-a", "AUTH", R"({"quote":"he said \"hi\", twice"})"));
    std::string csv, js;
    log.export_records({}, "csv", [](const std::string& a) { return a == "u-a" ? "alice" : ""; },
                       [&](const std::string& c) { csv += c; });
    log.export_records({}, "json", {}, [&](const std::string& c) { js += c; });
    CHECK(csv.rfind("seq,time_utc,time_ms,actor,actor_name,", 0) == 0);
    CHECK(csv.find("\"alice\"") != std::string::npos);
    CHECK(csv.find(R"(\""hi\"")") != std::string::npos);  // quotes doubled
    const auto j = nlohmann::json::parse(js);
    REQUIRE(j.size() == 5);
    std::string prev(64, '0');
    for (const auto& r : j) {
        AuditRecordData d;
        d.seq = r["seq"];
        d.time_ms = r["time_ms"];
        d.actor = r["actor"];
        d.role = r["role"];
        d.source = r["source"];
        d.action_class = r["action_class"];
        d.action = r["action"];
        d.target = r["target"];
        d.result = r["result"];
        d.details = r["details"];
        CHECK_EQ(r["prev_hash"].get<std::string>(), prev);
        CHECK_EQ(AuditLog::chain_hash_hex(prev, d), r["hash"].get<std::string>());
        prev = r["hash"];
        CHECK(csv.find(prev) != std::string::npos);
    }
    CHECK_THROWS_WITH(log.export_records({}, "xml", {}, [](const std::string&) {}), enclave::InvalidArgument, "csv or json");
}

ENCLAVE_TEST(a_long_export_reports_its_progress_and_survives_bad_utf8) {
    Clock clock;
    const auto dir = fresh_dir("export_progress");
    AuditLog log(log_options(dir, clock));
    const std::string padding(400, 'x');
    for (int i = 0; i < 1200; ++i) log.append(rec("u-a", "AUTH", R"({"note":")" + padding + R"("})"));
    log.append(rec("u-\xff", "AUTH", "{}"));  // an actor that is not UTF-8 (an OS user name, say)
    std::vector<double> fractions;
    std::string js;
    log.export_records({}, "json", {}, [&](const std::string& c) { js += c; },
                       [&](double f) { fractions.push_back(f); });
    // ~600 KB of JSON in chunks of 64 KB: progress before each full chunk, rising, never past 1.
    REQUIRE(fractions.size() >= 5);
    for (size_t i = 1; i < fractions.size(); ++i) CHECK(fractions[i] > fractions[i - 1]);
    CHECK(fractions.front() > 0.0 && fractions.back() <= 1.0);
    const auto j = nlohmann::json::parse(js);
    CHECK_EQ(j.size(), size_t{1201});
    CHECK_EQ(j.back()["actor"].get<std::string>(), std::string("u-\xEF\xBF\xBD"));
}

ENCLAVE_TEST(retention_prunes_only_into_a_verified_archive_and_continues_the_chain) {
    Clock clock;
    const auto dir = fresh_dir("prune");
    {
        auto o = options(dir, clock);
        o.retention_days = 90;
        CHECK_THROWS_WITH(SecurityService{o}, enclave::InvalidArgument, "at least 180");
    }
    SecurityService s(options(dir, clock));
    const auto admin =
        s.bootstrap(socket_caller(), read_secret(s.bootstrap_secret_file()), "root-admin", kPassword);
    const Principal p = s.authorize(socket_caller(admin.token), Action::audit_verify, "");
    for (int i = 0; i < 30; ++i) s.audit(p, {"MODEL", "model.load", "old", "ok", "{}"});
    const int64_t old_last = s.audit_log().last_seq();
    clock.advance(int64_t{200} * 86'400'000);
    for (int i = 0; i < 5; ++i) s.audit(p, {"MODEL", "model.load", "new", "ok", "{}"});
    const PruneResult r = s.prune_audit(p, dir / "archive");
    CHECK_EQ(r.through_seq, old_last);
    CHECK_EQ(r.pruned, old_last);
    REQUIRE(fs::exists(r.archive));
    const VerifyResult a = AuditLog::verify_archive(r.archive);
    CHECK_MSG(a.ok, a.problem);
    CHECK_EQ(a.records_checked, old_last);
    const VerifyResult v = s.verify_audit(p);
    CHECK_MSG(v.ok, v.problem);
    AuditFilter f;
    f.text = r.continues_from;
    const auto prune_rec = s.audit_log().query(f);
    REQUIRE(prune_rec.records.size() == 1);
    CHECK_EQ(prune_rec.records[0].action, std::string("audit.prune"));
    // Nothing newer than the cutoff was touched; a second prune has nothing to do.
    CHECK_EQ(s.prune_audit(p, dir / "archive").pruned, int64_t{0});
    // A changed archive does not verify.
    std::string bytes = slurp(r.archive);
    const auto at = bytes.find("\"old\"");
    REQUIRE(at != std::string::npos);
    bytes[at + 1] = 'O';
    std::ofstream(r.archive, std::ios::binary | std::ios::trunc) << bytes;
    CHECK(!AuditLog::verify_archive(r.archive).ok);
}

// The serve daemon's retention thread (AuditRetention, what `serve` runs daily): with the clock moved
// past the retention period, its first run at start archives the old records, the prune is in the chain
// under the engine's own actor, and a failed prune is audited as an error without stopping the thread.
ENCLAVE_TEST(the_retention_thread_archives_old_records_at_start_and_audits_failures) {
    Clock clock;
    const auto dir = fresh_dir("retention_thread");
    SecurityService s(options(dir, clock));
    const auto admin =
        s.bootstrap(socket_caller(), read_secret(s.bootstrap_secret_file()), "root-admin", kPassword);
    const Principal p = s.authorize(socket_caller(admin.token), Action::audit_verify, "");
    for (int i = 0; i < 10; ++i) s.audit(p, {"MODEL", "model.load", "old", "ok", "{}"});
    const int64_t old_last = s.audit_log().last_seq();
    clock.advance(int64_t{181} * 86'400'000);
    s.audit(p, {"MODEL", "model.load", "new", "ok", "{}"});
    std::vector<std::string> said;
    std::mutex said_mutex;
    {
        AuditRetention retention(s, dir / "archive", std::chrono::milliseconds(20), [&](const std::string& m) {
            std::lock_guard lock(said_mutex);
            said.push_back(m);
        });
        retention.start();
        for (int i = 0; i < 500 && retention.runs() < 3; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
        retention.stop();
        CHECK(retention.runs() >= 3);  // at start, then every period
        CHECK_EQ(retention.failures(), uint64_t{0});
    }
    const auto archive = dir / "archive" / ("audit-1-" + std::to_string(old_last) + ".jsonl");
    REQUIRE_MSG(fs::exists(archive), archive.string());
    CHECK(AuditLog::verify_archive(archive).ok);
    const VerifyResult v = s.verify_audit(p);
    CHECK_MSG(v.ok, v.problem);
    AuditFilter f;
    f.actors = {"engine:retention"};
    const auto mine = s.audit_log().query(f);
    REQUIRE(mine.records.size() == 1);  // one prune; the later runs found nothing old
    CHECK_EQ(mine.records[0].action, std::string("audit.prune"));
    CHECK_EQ(mine.records[0].result, std::string("ok"));
    {
        std::lock_guard lock(said_mutex);
        REQUIRE(!said.empty());
        CHECK(said[0].find("archived " + std::to_string(old_last) + " records") != std::string::npos);
    }
    // A prune that cannot write its archive (a file where the directory should be) is audited as an error.
    clock.advance(int64_t{181} * 86'400'000);
    std::ofstream(dir / "not-a-dir") << "x";
    AuditRetention broken(s, dir / "not-a-dir", std::chrono::hours(24));
    CHECK_THROWS_WITH(broken.run_once(), std::exception, "");
    CHECK_EQ(broken.failures(), uint64_t{1});
    f.result = "error";
    const auto failed = s.audit_log().query(f);
    REQUIRE(failed.records.size() == 1);
    CHECK_EQ(failed.records[0].action, std::string("audit.prune"));
}

ENCLAVE_TEST(gdpr_export_and_erase_keep_the_chain_verifiable) {
    Clock clock;
    const auto dir = fresh_dir("gdpr");
    SecurityService s(options(dir, clock));
    const auto admin =
        s.bootstrap(socket_caller(), read_secret(s.bootstrap_secret_file()), "root-admin", kPassword);
    const Principal by = s.authorize(socket_caller(admin.token), Action::users_manage, "");
    const auto u = s.create_user(by, "Zhang.Wei-1987", Role::analyst, kPassword);
    const auto login = s.login(socket_caller(), "Zhang.Wei-1987", kPassword);
    const Principal zw = s.authorize(socket_caller(login.token), Action::generate, "m");
    for (int i = 0; i < 5; ++i) s.audit(zw, {"INFERENCE", "chat", "m", "ok", R"({"prompt_tokens":10})"});
    s.create_key(zw, {"zw-app", 0, Role::analyst, {}, 0, {}});
    int64_t erased_content = 0;
    s.set_user_content_hooks([](int64_t id) { return "{\"conversations\":[{\"owner\":" + std::to_string(id) + "}]}"; },
                             [&](int64_t id) { erased_content = id; });
    // Art. 15: everything about the user.
    const auto ex = nlohmann::json::parse(s.export_user_data(zw, 0));
    CHECK_EQ(ex["account"]["name"].get<std::string>(), std::string("Zhang.Wei-1987"));
    CHECK_EQ(ex["api_keys"].size(), size_t{1});
    CHECK(ex["audit_records"].size() >= 8);  // create, login, 5 chats, key
    CHECK_EQ(ex["content"]["conversations"][0]["owner"].get<int64_t>(), u.id);
    CHECK_THROWS_WITH(s.export_user_data(zw, admin.user.id), PermissionDenied, "");
    const auto before = s.query_audit(by, {}, "Zhang.Wei-1987");
    CHECK(before.records.size() >= 8);
    CHECK_EQ(before.records[0].actor_name, std::string("Zhang.Wei-1987"));
    // Art. 17: erase.
    const std::string pseudonym = s.erase_user_data(by, u.id);
    CHECK_EQ(pseudonym, u.pseudonym);
    CHECK_EQ(erased_content, u.id);
    CHECK_THROWS_WITH(s.authorize(socket_caller(login.token), Action::generate, ""), Unauthenticated, "");
    const VerifyResult v = s.verify_audit(by);
    CHECK_MSG(v.ok, v.problem);
    AuditFilter f;
    f.actors = {pseudonym};
    const auto after = s.audit_log().query(f);
    CHECK(after.records.size() >= 6);  // the records stay, under the pseudonym
    CHECK(s.query_audit(by, {}, pseudonym).records[0].actor_name.empty());
    CHECK(s.query_audit(by, {}, "Zhang.Wei-1987").records.empty());
    // The name is nowhere on disk any more.
    for (const auto* name : {"audit.db", "audit.db-wal", "identity.db", "identity.db-wal"})
        CHECK_MSG(!file_contains(dir / name, "Zhang.Wei-1987"), name);
    CHECK_THROWS_WITH(s.erase_user_data(by, u.id), enclave::InvalidArgument, "nothing is held");
}

ENCLAVE_TEST_MAIN()
