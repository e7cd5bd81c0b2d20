// A small RAII wrapper over SQLite (the engine's state: users, sessions, keys, conversations, alert rules,
// and the audit log in its own file).
//
// Contract
// - Database owns one connection; Statement owns one prepared statement and must not outlive its
//   Database. A Database and its Statements are used by one thread at a time: the owner serialises them
//   (a mutex), or each thread opens its own connection (SQLite then arbitrates with file locks and the
//   busy timeout).
// - Every failure throws StoreError naming the file and SQLite's message. kind() tells apart what the
//   caller must treat differently: `full` (disk or size limit reached) and `io` (a failed read or write)
//   mean the write did not happen and the store should fail closed; `busy` means another connection held
//   the lock past the busy timeout; `constraint` a UNIQUE/CHECK/trigger refusal.
// - Transaction is BEGIN IMMEDIATE (the write lock is taken at once, so two writers never deadlock on an
//   upgrade) and rolls back in its destructor unless commit() succeeded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "core/common/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace enclave::server::store {

class StoreError : public Error {
public:
    enum class Kind { other, busy, full, io, corrupt, readonly, constraint, cantopen };
    StoreError(const std::string& what, Kind kind, int sqlite_code)
        : Error(what), kind_(kind), sqlite_code_(sqlite_code) {}
    Kind kind() const { return kind_; }
    int sqlite_code() const { return sqlite_code_; }  // the extended result code
    // The write could not reach the disk (full, size limit, I/O error): fail closed.
    bool write_failed() const { return kind_ == Kind::full || kind_ == Kind::io; }

private:
    Kind kind_;
    int sqlite_code_;
};

struct OpenOptions {
    bool wal = true;                // journal_mode=WAL
    bool synchronous_full = true;   // synchronous=FULL (else NORMAL)
    int busy_timeout_ms = 5000;
    bool create = true;             // create the file when missing (else StoreError cantopen)
    bool read_only = false;
    bool foreign_keys = true;
};

class Database;

class Statement {
public:
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    // Parameters are 1-based, as in SQLite. Text and blobs are copied.
    Statement& bind(int index, int64_t value);
    Statement& bind(int index, int value) { return bind(index, static_cast<int64_t>(value)); }
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, std::nullptr_t);
    Statement& bind_blob(int index, const void* data, size_t size);
    int parameter_index(const char* name) const;  // ":name" -> index, 0 when absent

    // Runs to the next row: true when a row is available, false when done.
    bool step();
    // Runs a statement that returns no rows (or ignores them) to completion.
    void run();

    // Columns are 0-based.
    int column_count() const;
    int64_t column_int64(int i) const;
    double column_double(int i) const;
    std::string column_text(int i) const;
    std::string column_blob(int i) const;
    bool column_is_null(int i) const;

    // Back to before the first step, with the bindings cleared.
    void reset();

private:
    friend class Database;
    Statement(Database* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
    [[noreturn]] void fail(int rc, const char* doing) const;
    Database* db_ = nullptr;
    sqlite3_stmt* stmt_ = nullptr;
};

class Database {
public:
    static Database open(const std::filesystem::path& path, const OpenOptions& options = {});
    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;
    ~Database();

    // One or more statements separated by ';', no parameters, rows ignored.
    void exec(std::string_view sql);
    Statement prepare(std::string_view sql);
    int64_t last_insert_rowid() const;
    int changes() const;  // rows changed by the last INSERT/UPDATE/DELETE
    bool in_transaction() const;

    // PRAGMA integrity_check: "ok" or SQLite's list of problems.
    std::string integrity_check();
    // A single integer from a query such as "PRAGMA user_version" or "SELECT count(*) FROM t".
    int64_t query_int64(std::string_view sql);

    const std::string& path() const { return path_; }
    sqlite3* handle() const { return db_; }

    // Throws StoreError for a SQLite result code on this connection (used by Statement and Transaction).
    [[noreturn]] void fail(int rc, const char* doing) const;

private:
    Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
    sqlite3* db_ = nullptr;
    std::string path_;
};

class Transaction {
public:
    enum class Mode { immediate, deferred, exclusive };
    explicit Transaction(Database& db, Mode mode = Mode::immediate);
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction();
    void commit();

private:
    Database& db_;
    bool done_ = false;
};

}  // namespace enclave::server::store
