#include "server/security/audit_log.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>  // defines: archive and export records

#include "server/security/crypto.h"

namespace enclave::server::security {

namespace fs = std::filesystem;
using store::Database;
using store::StoreError;
using store::Transaction;

namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS audit(
  seq INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  role TEXT NOT NULL,
  source TEXT NOT NULL,
  action_class TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  result TEXT NOT NULL,
  details TEXT NOT NULL,
  prev_hash BLOB NOT NULL,
  hash BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS audit_time ON audit(time_ms);
CREATE INDEX IF NOT EXISTS audit_actor ON audit(actor, time_ms);
CREATE INDEX IF NOT EXISTS audit_class ON audit(action_class, time_ms);
CREATE INDEX IF NOT EXISTS audit_result ON audit(result, time_ms);
CREATE TABLE IF NOT EXISTS chain_base(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  seq INTEGER NOT NULL,
  hash BLOB NOT NULL,
  archive TEXT NOT NULL,
  archive_sha256 TEXT NOT NULL,
  time_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS prune_permit(through_seq INTEGER NOT NULL);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
WHEN OLD.seq > coalesce((SELECT max(through_seq) FROM prune_permit), 0)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only (only a prune into an archive removes them)'); END;
CREATE TRIGGER IF NOT EXISTS audit_in_order BEFORE INSERT ON audit
WHEN NEW.seq <> coalesce((SELECT max(seq) FROM audit), (SELECT seq FROM chain_base), 0) + 1
BEGIN SELECT RAISE(ABORT, 'audit records are appended in sequence'); END;
)sql";

constexpr const char* kColumns =
    "seq, time_ms, actor, role, source, action_class, action, target, result, details, prev_hash, hash";

const std::string kZeroHash(32, '\0');

std::string hex(const std::string& raw) {
    return to_hex(reinterpret_cast<const uint8_t*>(raw.data()), raw.size());
}

std::string unhex(const std::string& h) {
    std::string out(h.size() / 2, '\0');
    size_t len = 0;
    if (h.size() % 2 || sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), h.data(), h.size(),
                                       nullptr, &len, nullptr) != 0 || len != out.size())
        throw Error("not a hex string: '" + h + "'");
    return out;
}

void put(std::string& out, std::string_view field) {
    out += std::to_string(field.size());
    out += ':';
    out += field;
    out += ';';
}

AuditRecordData read_row(const store::Statement& st) {
    AuditRecordData r;
    r.seq = st.column_int64(0);
    r.time_ms = st.column_int64(1);
    r.actor = st.column_text(2);
    r.role = st.column_text(3);
    r.source = st.column_text(4);
    r.action_class = st.column_text(5);
    r.action = st.column_text(6);
    r.target = st.column_text(7);
    r.result = st.column_text(8);
    r.details = st.column_text(9);
    r.prev_hash = hex(st.column_blob(10));
    r.hash = hex(st.column_blob(11));
    return r;
}

nlohmann::json to_json(const AuditRecordData& r) {
    return {{"seq", r.seq},           {"time_ms", r.time_ms},
            {"actor", r.actor},       {"role", r.role},
            {"source", r.source},     {"action_class", r.action_class},
            {"action", r.action},     {"target", r.target},
            {"result", r.result},     {"details", r.details},
            {"prev_hash", r.prev_hash}, {"hash", r.hash}};
}

AuditRecordData from_json(const nlohmann::json& j) {
    AuditRecordData r;
    r.seq = j.at("seq").get<int64_t>();
    r.time_ms = j.at("time_ms").get<int64_t>();
    r.actor = j.at("actor").get<std::string>();
    r.role = j.at("role").get<std::string>();
    r.source = j.at("source").get<std::string>();
    r.action_class = j.at("action_class").get<std::string>();
    r.action = j.at("action").get<std::string>();
    r.target = j.at("target").get<std::string>();
    r.result = j.at("result").get<std::string>();
    r.details = j.at("details").get<std::string>();
    r.prev_hash = j.at("prev_hash").get<std::string>();
    r.hash = j.at("hash").get<std::string>();
    return r;
}

std::string csv_field(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

std::string utc_iso(int64_t ms) {
    const time_t secs = static_cast<time_t>(ms / 1000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    return buf;
}

void fsync_dir(const fs::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

}  // namespace

// ---- the anchor: the last committed (seq, hash), outside the database ----------------------------

struct AuditLog::Anchor {
    static constexpr size_t kSlot = 72;  // seq (8, little endian) | hash (32) | SHA-256 of the first 40 (32)
    int fd = -1;
    fs::path path;

    explicit Anchor(const fs::path& p) : path(p) {
        fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) throw Error("cannot open the audit anchor " + p.string() + ": " + std::strerror(errno));
    }
    ~Anchor() {
        if (fd >= 0) ::close(fd);
    }

    // The newest valid slot: (seq, raw hash); (0, "") when none.
    static std::pair<int64_t, std::string> read_fd(int fd) {
        char buf[2 * kSlot] = {};
        const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
        std::pair<int64_t, std::string> best{0, ""};
        for (int s = 0; s < 2; ++s) {
            if (n < static_cast<ssize_t>((s + 1) * kSlot)) break;
            const char* p = buf + s * kSlot;
            const Sha256 check = sha256(std::string_view(p, 40));
            if (std::memcmp(check.data(), p + 40, 32) != 0) continue;
            int64_t seq = 0;
            std::memcpy(&seq, p, 8);
            if (seq > best.first) best = {seq, std::string(p + 8, 32)};
        }
        return best;
    }

    std::pair<int64_t, std::string> read() const {
        ::flock(fd, LOCK_SH);
        auto r = read_fd(fd);
        ::flock(fd, LOCK_UN);
        return r;
    }

    // Only moves forward: two processes committing at once may finish in either order.
    void advance(int64_t seq, const std::string& raw_hash) {
        ::flock(fd, LOCK_EX);
        char buf[2 * kSlot] = {};
        const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
        int64_t seqs[2] = {-1, -1};
        for (int s = 0; s < 2; ++s) {
            if (n < static_cast<ssize_t>((s + 1) * kSlot)) continue;
            const char* p = buf + s * kSlot;
            const Sha256 check = sha256(std::string_view(p, 40));
            if (std::memcmp(check.data(), p + 40, 32) == 0) std::memcpy(&seqs[s], p, 8);
        }
        if (seq <= std::max(seqs[0], seqs[1])) {
            ::flock(fd, LOCK_UN);
            return;
        }
        const int slot = seqs[0] <= seqs[1] ? 0 : 1;  // overwrite the older (or broken) one
        char out[kSlot];
        std::memcpy(out, &seq, 8);
        std::memcpy(out + 8, raw_hash.data(), 32);
        const Sha256 check = sha256(std::string_view(out, 40));
        std::memcpy(out + 40, check.data(), 32);
        const bool ok = ::pwrite(fd, out, kSlot, static_cast<off_t>(slot * kSlot)) == static_cast<ssize_t>(kSlot) &&
                        ::fdatasync(fd) == 0;
        const int err = errno;
        ::flock(fd, LOCK_UN);
        if (!ok) throw Error("cannot write the audit anchor " + path.string() + ": " + std::strerror(err));
    }
};

// ---- AuditLog ----------------------------------------------------------------------------------

std::string AuditLog::canonical_bytes(const AuditRecordData& r) {
    std::string out = "enclave-audit-v1;";
    put(out, std::to_string(r.seq));
    put(out, std::to_string(r.time_ms));
    put(out, r.actor);
    put(out, r.role);
    put(out, r.source);
    put(out, r.action_class);
    put(out, r.action);
    put(out, r.target);
    put(out, r.result);
    put(out, r.details);
    return out;
}

static std::string chain_hash_raw(const std::string& prev_raw, const AuditRecordData& r) {
    const Sha256 h = sha256(prev_raw + AuditLog::canonical_bytes(r));
    return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

std::string AuditLog::chain_hash_hex(const std::string& prev_hash_hex, const AuditRecordData& r) {
    return hex(chain_hash_raw(unhex(prev_hash_hex), r));
}

AuditLog::AuditLog(Options options) : options_(std::move(options)) {
    init_sodium();
    if (!options_.clock_ms)
        options_.clock_ms = [] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                .count();
        };
    store::OpenOptions o;
    o.busy_timeout_ms = options_.busy_timeout_ms;
    db_.emplace(Database::open(options_.db_path, o));
    ::chmod(options_.db_path.c_str(), 0600);
    db_->exec(kSchema);
    if (options_.max_page_count > 0) db_->exec("PRAGMA max_page_count=" + std::to_string(options_.max_page_count));
    anchor_ = std::make_unique<Anchor>(options_.anchor_path);
}

AuditLog::~AuditLog() = default;

Database AuditLog::open_reader() const {
    store::OpenOptions o;
    o.create = false;
    o.busy_timeout_ms = options_.busy_timeout_ms;
    o.wal = false;  // the file is already in WAL mode; a reader does not change it
    o.synchronous_full = false;
    return Database::open(options_.db_path, o);
}

namespace {

struct Tail {
    int64_t seq = 0;
    std::string hash;  // raw
};

Tail read_tail(Database& db) {
    auto st = db.prepare("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    if (st.step()) return {st.column_int64(0), st.column_blob(1)};
    auto base = db.prepare("SELECT seq, hash FROM chain_base WHERE id = 1");
    if (base.step()) return {base.column_int64(0), base.column_blob(1)};
    return {0, kZeroHash};
}

// Appends inside the caller's transaction; returns (seq, raw hash).
std::pair<int64_t, std::string> insert_record(Database& db, const AuditInput& in, int64_t now) {
    const Tail tail = read_tail(db);
    AuditRecordData r;
    r.seq = tail.seq + 1;
    r.time_ms = now;
    r.actor = in.actor;
    r.role = in.role;
    r.source = in.source;
    r.action_class = in.entry.action_class;
    r.action = in.entry.action;
    r.target = in.entry.target;
    r.result = in.entry.result;
    r.details = in.entry.details_json.empty() ? "{}" : in.entry.details_json;
    const std::string h = chain_hash_raw(tail.hash, r);
    auto ins = db.prepare(std::string("INSERT INTO audit(") + kColumns + ") VALUES(?,?,?,?,?,?,?,?,?,?,?,?)");
    ins.bind(1, r.seq).bind(2, r.time_ms).bind(3, r.actor).bind(4, r.role).bind(5, r.source);
    ins.bind(6, r.action_class).bind(7, r.action).bind(8, r.target).bind(9, r.result).bind(10, r.details);
    ins.bind_blob(11, tail.hash.data(), tail.hash.size());
    ins.bind_blob(12, h.data(), h.size());
    ins.run();
    return {r.seq, h};
}

}  // namespace

int64_t AuditLog::append(const AuditInput& record) {
    std::pair<int64_t, std::string> done;
    try {
        std::lock_guard lock(mutex_);
        Transaction tx(*db_);
        done = insert_record(*db_, record, options_.clock_ms());
        tx.commit();
    } catch (const StoreError& e) {
        healthy_ = false;
        ++failures_;
        throw AuditUnavailable(std::string("the audit log cannot be written, so the call is refused: ") + e.what());
    }
    try {
        anchor_->advance(done.first, done.second);
    } catch (const Error& e) {
        healthy_ = false;
        ++failures_;
        throw AuditUnavailable(std::string("the audit log's anchor cannot be written, so the call is refused: ") +
                               e.what());
    }
    healthy_ = true;
    return done.first;
}

int64_t AuditLog::last_seq() {
    std::lock_guard lock(mutex_);
    return read_tail(*db_).seq;
}

VerifyResult AuditLog::verify(const std::function<void(int64_t, int64_t)>& progress) {
    auto db = open_reader();
    VerifyResult v;
    // One read transaction: a consistent snapshot even while the engine appends.
    db.exec("BEGIN");
    const int64_t total = db.query_int64("SELECT count(*) FROM audit");
    Tail base{0, kZeroHash};
    {
        auto st = db.prepare("SELECT seq, hash FROM chain_base WHERE id = 1");
        if (st.step()) base = {st.column_int64(0), st.column_blob(1)};
    }
    auto bad = [&](int64_t seq, std::string problem) {
        if (v.ok) {
            v.ok = false;
            v.first_bad_seq = seq;
            v.problem = std::move(problem);
        }
    };
    if (base.seq > 0) {
        auto st = db.prepare("SELECT count(*) FROM audit WHERE action = 'audit.prune' AND instr(details, ?) > 0");
        st.bind(1, "\"continues_from\":\"" + hex(base.hash) + "\"");
        if (!st.step() || st.column_int64(0) == 0)
            bad(base.seq + 1, "the chain starts after seq " + std::to_string(base.seq) +
                                  " but no audit.prune record names that starting hash");
    }
    int64_t expect = base.seq + 1;
    std::string prev = base.hash;
    auto st = db.prepare(std::string("SELECT ") + kColumns + " FROM audit ORDER BY seq");
    while (st.step()) {
        const int64_t seq = st.column_int64(0);
        if (v.ok) {
            if (seq != expect) {
                bad(expect, seq > expect ? "record " + std::to_string(expect) + " is missing (the next present is " +
                                               std::to_string(seq) + ")"
                                         : "record " + std::to_string(seq) + " is out of sequence");
            } else {
                const AuditRecordData r = read_row(st);
                const std::string stored_prev = st.column_blob(10);
                const std::string stored_hash = st.column_blob(11);
                if (stored_prev != prev)
                    bad(seq, "its prev_hash does not match the hash of record " + std::to_string(seq - 1) +
                                 " (a record before it was removed, replaced or reordered)");
                else if (chain_hash_raw(prev, r) != stored_hash)
                    bad(seq, "its contents do not match its hash (the record was changed)");
                prev = stored_hash;
            }
        }
        v.last_seq = seq;
        expect = seq + 1;
        ++v.records_checked;
        if (progress && (v.records_checked & 0xffff) == 0) progress(v.records_checked, total);
    }
    db.exec("COMMIT");
    if (v.last_seq == 0) v.last_seq = base.seq;
    const auto [anchor_seq, anchor_hash] = anchor_->read();
    if (v.ok && anchor_seq > v.last_seq)
        bad(v.last_seq + 1, "records " + std::to_string(v.last_seq + 1) + " to " + std::to_string(anchor_seq) +
                                " are missing at the end (the anchor file recorded seq " + std::to_string(anchor_seq) +
                                ")");
    if (v.ok && anchor_seq > base.seq && anchor_seq <= v.last_seq) {
        auto a = db.prepare("SELECT hash FROM audit WHERE seq = ?");
        a.bind(1, anchor_seq);
        if (a.step() && a.column_blob(0) != anchor_hash)
            bad(anchor_seq, "its hash differs from the one the anchor file recorded (the chain was rewritten)");
    }
    if (progress) progress(v.records_checked, total);
    return v;
}

namespace {


// Builds " WHERE ..." and a binder for a filter (without the paging cursor).
std::string where_clause(const AuditFilter& f) {
    std::string w;
    auto add = [&](const std::string& c) { w += (w.empty() ? " WHERE " : " AND ") + c; };
    if (f.since_ms > 0) add("time_ms >= :since");
    if (f.until_ms > 0) add("time_ms <= :until");
    if (!f.actors.empty()) {
        std::string in = "actor IN (";
        for (size_t i = 0; i < f.actors.size(); ++i) in += (i ? ",:a" : ":a") + std::to_string(i);
        add(in + ")");
    }
    if (!f.action_class.empty()) add("action_class = :class");
    if (!f.result.empty()) add("result = :result");
    if (!f.text.empty()) add("(instr(target, :text) > 0 OR instr(details, :text) > 0)");
    return w;
}

void bind_filter(store::Statement& st, const AuditFilter& f) {
    auto bind = [&](const char* name, auto value) {
        if (const int i = st.parameter_index(name)) st.bind(i, value);
    };
    bind(":since", f.since_ms);
    bind(":until", f.until_ms);
    for (size_t i = 0; i < f.actors.size(); ++i) {
        const std::string name = ":a" + std::to_string(i);
        if (const int idx = st.parameter_index(name.c_str())) st.bind(idx, f.actors[i]);
    }
    bind(":class", std::string_view(f.action_class));
    bind(":result", std::string_view(f.result));
    bind(":text", std::string_view(f.text));
}

}  // namespace

AuditPageData AuditLog::query(const AuditFilter& f) {
    if (f.limit < 1 || f.limit > 1000) throw InvalidArgument("limit: 1 to 1000");
    auto db = open_reader();
    AuditPageData page;
    db.exec("BEGIN");
    std::string where = where_clause(f);
    int64_t cursor_time = 0;
    if (f.before_seq > 0) {
        auto t = db.prepare("SELECT time_ms FROM audit WHERE seq = ?");
        t.bind(1, f.before_seq);
        if (!t.step()) throw InvalidArgument("before_seq: no record " + std::to_string(f.before_seq));
        cursor_time = t.column_int64(0);
        where += std::string(where.empty() ? " WHERE " : " AND ") +
                 "time_ms <= :ct AND (time_ms < :ct OR seq < :cs)";
    }
    auto st = db.prepare(std::string("SELECT ") + kColumns + " FROM audit" + where +
                         " ORDER BY time_ms DESC, seq DESC LIMIT :limit");
    bind_filter(st, f);
    if (f.before_seq > 0) {
        st.bind(st.parameter_index(":ct"), cursor_time);
        st.bind(st.parameter_index(":cs"), f.before_seq);
    }
    st.bind(st.parameter_index(":limit"), f.limit + 1);
    while (st.step()) {
        if (static_cast<int>(page.records.size()) == f.limit) {
            page.next_before_seq = page.records.back().seq;
            break;
        }
        page.records.push_back(read_row(st));
    }
    if (f.before_seq == 0) {
        auto c = db.prepare("SELECT count(*) FROM (SELECT 1 FROM audit" + where_clause(f) + " LIMIT " +
                            std::to_string(kCountCap + 1) + ")");
        bind_filter(c, f);
        if (c.step()) page.total_matching = c.column_int64(0) > kCountCap ? -1 : c.column_int64(0);
    }
    db.exec("COMMIT");
    return page;
}

void AuditLog::export_records(const AuditFilter& f, const std::string& format,
                              const std::function<std::string(const std::string&)>& actor_name,
                              const std::function<void(const std::string&)>& sink,
                              const std::function<void(double)>& progress) {
    if (format != "csv" && format != "json") throw InvalidArgument("format: csv or json (got '" + format + "')");
    auto db = open_reader();
    db.exec("BEGIN");
    int64_t total = 0, done = 0;  // for progress: counted in the same read transaction as the export
    if (progress) {
        auto count = db.prepare("SELECT COUNT(*) FROM audit" + where_clause(f));
        bind_filter(count, f);
        if (count.step()) total = count.column_int64(0);
    }
    auto st = db.prepare(std::string("SELECT ") + kColumns + " FROM audit" + where_clause(f) + " ORDER BY seq");
    bind_filter(st, f);
    std::string buf;
    const bool csv = format == "csv";
    buf = csv ? "seq,time_utc,time_ms,actor,actor_name,role,source,action_class,action,target,result,details,"
                "prev_hash,hash\n"
              : "[";
    bool first = true;
    while (st.step()) {
        const AuditRecordData r = read_row(st);
        const std::string name = actor_name ? actor_name(r.actor) : std::string();
        if (csv) {
            buf += std::to_string(r.seq) + "," + utc_iso(r.time_ms) + "," + std::to_string(r.time_ms) + "," +
                   csv_field(r.actor) + "," + csv_field(name) + "," + csv_field(r.role) + "," + csv_field(r.source) +
                   "," + csv_field(r.action_class) + "," + csv_field(r.action) + "," + csv_field(r.target) + "," +
                   csv_field(r.result) + "," + csv_field(r.details) + "," + r.prev_hash + "," + r.hash + "\n";
        } else {
            auto j = to_json(r);
            j["time_utc"] = utc_iso(r.time_ms);
            j["actor_name"] = name;
            buf += (first ? "\n" : ",\n") + j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        }
        first = false;
        ++done;
        if (buf.size() >= (64u << 10)) {
            if (progress && total > 0) progress(std::min(1.0, static_cast<double>(done) / static_cast<double>(total)));
            sink(buf);
            buf.clear();
        }
    }
    db.exec("COMMIT");
    if (!csv) buf += "\n]\n";
    if (!buf.empty()) sink(buf);
}

PruneResult AuditLog::prune(int64_t cutoff_ms, const fs::path& archive_dir, const AuditInput& by) {
    const VerifyResult before = verify();
    if (!before.ok)
        throw Error("refusing to prune: the audit chain breaks at seq " + std::to_string(before.first_bad_seq) + ": " +
                    before.problem);
    PruneResult result;
    Tail base{0, kZeroHash};
    int64_t through = 0;
    std::string through_hash;
    {
        auto db = open_reader();
        db.exec("BEGIN");
        auto b = db.prepare("SELECT seq, hash FROM chain_base WHERE id = 1");
        if (b.step()) base = {b.column_int64(0), b.column_blob(1)};
        auto s = db.prepare("SELECT min(seq) FROM audit WHERE time_ms >= ?");
        s.bind(1, cutoff_ms);
        if (s.step() && !s.column_is_null(0)) through = s.column_int64(0) - 1;
        else through = read_tail(db).seq;
        if (through <= base.seq) {
            db.exec("COMMIT");
            return result;  // nothing older than the cutoff
        }
        // Write the archive from the same snapshot.
        fs::create_directories(archive_dir);
        const std::string name = "audit-" + std::to_string(base.seq + 1) + "-" + std::to_string(through) + ".jsonl";
        result.archive = archive_dir / name;
        const fs::path tmp = result.archive.string() + ".part";
        {
            auto h = db.prepare("SELECT hash FROM audit WHERE seq = ?");
            h.bind(1, through);
            if (!h.step()) throw Error("prune: record " + std::to_string(through) + " vanished");
            through_hash = h.column_blob(0);
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            if (!out) throw Error("cannot write the audit archive " + tmp.string());
            nlohmann::json header = {{"format", "enclave-audit-archive-v1"},
                                     {"continues_from", hex(base.hash)},
                                     {"from_seq", base.seq + 1},
                                     {"through_seq", through},
                                     {"last_hash", hex(through_hash)}};
            out << header.dump() << "\n";
            auto st = db.prepare(std::string("SELECT ") + kColumns + " FROM audit WHERE seq <= ? ORDER BY seq");
            st.bind(1, through);
            while (st.step()) out << to_json(read_row(st)).dump() << "\n";
            out.flush();
            if (!out) throw Error("cannot write the audit archive " + tmp.string() + " (disk full?)");
        }
        db.exec("COMMIT");
        {
            const int fd = ::open(tmp.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0 || ::fsync(fd) != 0) throw Error("cannot sync the audit archive " + tmp.string());
            ::close(fd);
        }
        fs::rename(tmp, result.archive);
        fsync_dir(archive_dir);
    }
    const VerifyResult archived = verify_archive(result.archive);
    if (!archived.ok || archived.records_checked != through - base.seq)
        throw Error("refusing to prune: the archive " + result.archive.string() + " does not verify: " +
                    archived.problem);
    {
        crypto_hash_sha256_state state;
        crypto_hash_sha256_init(&state);
        std::ifstream in(result.archive, std::ios::binary);
        std::string chunk(1 << 16, '\0');
        while (in.read(chunk.data(), static_cast<std::streamsize>(chunk.size())) || in.gcount() > 0)
            crypto_hash_sha256_update(&state, reinterpret_cast<const unsigned char*>(chunk.data()),
                                      static_cast<unsigned long long>(in.gcount()));
        unsigned char digest[32];
        crypto_hash_sha256_final(&state, digest);
        result.archive_sha256 = to_hex(digest, 32);
    }
    result.through_seq = through;
    result.continues_from = hex(through_hash);
    result.pruned = through - base.seq;
    std::pair<int64_t, std::string> done;
    try {
        std::lock_guard lock(mutex_);
        Transaction tx(*db_);
        const int64_t now = options_.clock_ms();
        auto permit = db_->prepare("INSERT INTO prune_permit(through_seq) VALUES(?)");
        permit.bind(1, through);
        permit.run();
        auto del = db_->prepare("DELETE FROM audit WHERE seq <= ?");
        del.bind(1, through);
        del.run();
        db_->exec("DELETE FROM prune_permit");
        auto cb = db_->prepare(
            "INSERT OR REPLACE INTO chain_base(id, seq, hash, archive, archive_sha256, time_ms) VALUES(1,?,?,?,?,?)");
        cb.bind(1, through).bind_blob(2, through_hash.data(), through_hash.size());
        cb.bind(3, result.archive.filename().string()).bind(4, result.archive_sha256).bind(5, now);
        cb.run();
        AuditInput rec = by;
        rec.entry.action_class = "AUDIT";
        rec.entry.action = "audit.prune";
        rec.entry.result = "ok";
        rec.entry.target = result.archive.filename().string();
        rec.entry.details_json = nlohmann::json{{"from_seq", base.seq + 1},
                                                {"through_seq", through},
                                                {"cutoff_ms", cutoff_ms},
                                                {"archive", result.archive.filename().string()},
                                                {"archive_sha256", result.archive_sha256}}
                                     .dump();
        // continues_from last and unspaced, so verify() can find it with a plain substring search.
        rec.entry.details_json.pop_back();
        rec.entry.details_json += ",\"continues_from\":\"" + hex(through_hash) + "\"}";
        done = insert_record(*db_, rec, now);
        tx.commit();
    } catch (const StoreError& e) {
        healthy_ = false;
        ++failures_;
        throw AuditUnavailable(std::string("the audit log cannot be written (prune not done): ") + e.what());
    }
    anchor_->advance(done.first, done.second);
    return result;
}

VerifyResult AuditLog::verify_archive(const fs::path& archive) {
    init_sodium();
    VerifyResult v;
    std::ifstream in(archive, std::ios::binary);
    if (!in) throw Error("cannot read the audit archive " + archive.string());
    std::string line;
    if (!std::getline(in, line)) {
        v.ok = false;
        v.problem = "the archive is empty";
        return v;
    }
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(line);
    } catch (const std::exception&) {
        v.ok = false;
        v.problem = "the archive's header is not JSON";
        return v;
    }
    if (header.value("format", "") != "enclave-audit-archive-v1") {
        v.ok = false;
        v.problem = "not an enclave audit archive";
        return v;
    }
    std::string prev = unhex(header.at("continues_from").get<std::string>());
    int64_t expect = header.at("from_seq").get<int64_t>();
    const int64_t through = header.at("through_seq").get<int64_t>();
    auto bad = [&](int64_t seq, std::string problem) {
        if (v.ok) {
            v.ok = false;
            v.first_bad_seq = seq;
            v.problem = std::move(problem);
        }
    };
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        AuditRecordData r;
        try {
            r = from_json(nlohmann::json::parse(line));
        } catch (const std::exception&) {
            bad(expect, "line for record " + std::to_string(expect) + " is not a record");
            break;
        }
        if (r.seq != expect) bad(expect, "record " + std::to_string(expect) + " is missing");
        else if (unhex(r.prev_hash) != prev) bad(r.seq, "its prev_hash does not match the previous record");
        else if (chain_hash_raw(prev, r) != unhex(r.hash)) bad(r.seq, "its contents do not match its hash");
        prev = unhex(r.hash);
        expect = r.seq + 1;
        v.last_seq = r.seq;
        ++v.records_checked;
    }
    if (v.ok && v.last_seq != through)
        bad(v.last_seq + 1, "records up to " + std::to_string(through) + " are missing at the end");
    if (v.ok && hex(prev) != header.at("last_hash").get<std::string>())
        bad(through, "the last record's hash differs from the header's last_hash");
    return v;
}

}  // namespace enclave::server::security
