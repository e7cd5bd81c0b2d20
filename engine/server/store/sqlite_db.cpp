#include "server/store/sqlite_db.h"

#include <sqlite3.h>

#include <utility>

namespace enclave::server::store {
namespace {

StoreError::Kind kind_of(int rc) {
    switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED: return StoreError::Kind::busy;
        case SQLITE_FULL: return StoreError::Kind::full;
        case SQLITE_IOERR: return StoreError::Kind::io;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB: return StoreError::Kind::corrupt;
        case SQLITE_READONLY: return StoreError::Kind::readonly;
        case SQLITE_CONSTRAINT: return StoreError::Kind::constraint;
        case SQLITE_CANTOPEN: return StoreError::Kind::cantopen;
        default: return StoreError::Kind::other;
    }
}

}  // namespace

// ---- Database ----------------------------------------------------------------------------------

void Database::fail(int rc, const char* doing) const {
    const int ext = db_ ? sqlite3_extended_errcode(db_) : rc;
    const int code = (ext & 0xff) == (rc & 0xff) ? ext : rc;
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    throw StoreError(path_ + ": " + doing + ": " + msg + " (sqlite " + std::to_string(code) + ")", kind_of(code), code);
}

Database Database::open(const std::filesystem::path& path, const OpenOptions& options) {
    int flags = SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_NOFOLLOW;
    flags |= options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (options.create && !options.read_only) flags |= SQLITE_OPEN_CREATE;
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    Database db(raw, path.string());
    if (rc != SQLITE_OK) db.fail(rc, "cannot open");
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, options.busy_timeout_ms);
    if (!options.read_only) {
        if (options.wal) {
            auto st = db.prepare("PRAGMA journal_mode=WAL");
            if (!st.step() || st.column_text(0) != "wal")
                throw StoreError(db.path_ + ": cannot switch to WAL journal mode", StoreError::Kind::other, SQLITE_ERROR);
        }
        db.exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
    }
    if (options.foreign_keys) db.exec("PRAGMA foreign_keys=ON");
    return db;
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Database& Database::operator=(Database&& other) noexcept {
    if (this != &other) {
        if (db_) sqlite3_close_v2(db_);
        db_ = std::exchange(other.db_, nullptr);
        path_ = std::move(other.path_);
    }
    return *this;
}

Database::~Database() {
    // close_v2 defers the close until every statement is finalised, so an out-of-order destruction
    // leaks nothing and never crashes.
    if (db_) sqlite3_close_v2(db_);
}

void Database::exec(std::string_view sql) {
    const std::string s(sql);
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
        const std::string msg = err ? err : sqlite3_errstr(rc);
        sqlite3_free(err);
        const int ext = sqlite3_extended_errcode(db_);
        const int code = (ext & 0xff) == (rc & 0xff) ? ext : rc;
        throw StoreError(path_ + ": " + msg + " (sqlite " + std::to_string(code) + ")", kind_of(code), code);
    }
}

Statement Database::prepare(std::string_view sql) {
    sqlite3_stmt* st = nullptr;
    const int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &st, nullptr);
    if (rc != SQLITE_OK) fail(rc, "cannot prepare a statement");
    return Statement(this, st);
}

int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }
bool Database::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

std::string Database::integrity_check() {
    auto st = prepare("PRAGMA integrity_check");
    std::string out;
    while (st.step()) {
        if (!out.empty()) out += "\n";
        out += st.column_text(0);
    }
    return out;
}

int64_t Database::query_int64(std::string_view sql) {
    auto st = prepare(sql);
    if (!st.step()) throw StoreError(path_ + ": no row from " + std::string(sql), StoreError::Kind::other, SQLITE_ERROR);
    return st.column_int64(0);
}

// ---- Statement ---------------------------------------------------------------------------------

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        if (stmt_) sqlite3_finalize(stmt_);
        db_ = std::exchange(other.db_, nullptr);
        stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
}

Statement::~Statement() {
    if (stmt_) sqlite3_finalize(stmt_);
}

void Statement::fail(int rc, const char* doing) const { db_->fail(rc, doing); }

Statement& Statement::bind(int index, int64_t value) {
    if (const int rc = sqlite3_bind_int64(stmt_, index, value); rc != SQLITE_OK) fail(rc, "cannot bind");
    return *this;
}

Statement& Statement::bind(int index, double value) {
    if (const int rc = sqlite3_bind_double(stmt_, index, value); rc != SQLITE_OK) fail(rc, "cannot bind");
    return *this;
}

Statement& Statement::bind(int index, std::string_view text) {
    const int rc = sqlite3_bind_text64(stmt_, index, text.data() ? text.data() : "", text.size(), SQLITE_TRANSIENT,
                                       SQLITE_UTF8);
    if (rc != SQLITE_OK) fail(rc, "cannot bind");
    return *this;
}

Statement& Statement::bind(int index, std::nullptr_t) {
    if (const int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK) fail(rc, "cannot bind");
    return *this;
}

Statement& Statement::bind_blob(int index, const void* data, size_t size) {
    const int rc = sqlite3_bind_blob64(stmt_, index, size ? data : "", size, SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) fail(rc, "cannot bind");
    return *this;
}

int Statement::parameter_index(const char* name) const { return sqlite3_bind_parameter_index(stmt_, name); }

bool Statement::step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    // Leave the statement reusable; the error is the one step() reported.
    try {
        fail(rc, "cannot run a statement");
    } catch (...) {
        sqlite3_reset(stmt_);
        throw;
    }
}

void Statement::run() {
    while (step()) {
    }
}

int Statement::column_count() const { return sqlite3_column_count(stmt_); }
int64_t Statement::column_int64(int i) const { return sqlite3_column_int64(stmt_, i); }
double Statement::column_double(int i) const { return sqlite3_column_double(stmt_, i); }

std::string Statement::column_text(int i) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, i));
    const int n = sqlite3_column_bytes(stmt_, i);
    return p ? std::string(p, static_cast<size_t>(n)) : std::string();
}

std::string Statement::column_blob(int i) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, i));
    const int n = sqlite3_column_bytes(stmt_, i);
    return p ? std::string(p, static_cast<size_t>(n)) : std::string();
}

bool Statement::column_is_null(int i) const { return sqlite3_column_type(stmt_, i) == SQLITE_NULL; }

void Statement::reset() {
    sqlite3_reset(stmt_);  // its return repeats the last step's error, already thrown there
    sqlite3_clear_bindings(stmt_);
}

// ---- Transaction -------------------------------------------------------------------------------

Transaction::Transaction(Database& db, Mode mode) : db_(db) {
    switch (mode) {
        case Mode::immediate: db_.exec("BEGIN IMMEDIATE"); break;
        case Mode::deferred: db_.exec("BEGIN DEFERRED"); break;
        case Mode::exclusive: db_.exec("BEGIN EXCLUSIVE"); break;
    }
}

Transaction::~Transaction() {
    // SQLite rolls back by itself after some errors (SQLITE_FULL, SQLITE_IOERR): only roll back what is open.
    if (!done_ && db_.in_transaction()) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit() {
    if (!db_.in_transaction())
        throw StoreError(db_.path() + ": the transaction was already rolled back by an earlier error",
                         StoreError::Kind::other, SQLITE_ERROR);
    db_.exec("COMMIT");
    done_ = true;
}

}  // namespace enclave::server::store
