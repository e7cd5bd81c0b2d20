// The SQLite wrapper: binding and reading every type, transactions that roll back unless committed, and
// the failures callers must tell apart (busy, disk full, constraint) with the file named.
#include <unistd.h>

#include <filesystem>

#include "check.h"
#include "server/store/sqlite_db.h"

using namespace enclave::server::store;
namespace fs = std::filesystem;

namespace {
fs::path temp_db(const std::string& name) {
    const auto dir = fs::temp_directory_path() / ("enclave_tst_sqlite_" + std::to_string(getpid()));
    fs::create_directories(dir);
    const auto p = dir / name;
    fs::remove(p);
    fs::remove(p.string() + "-wal");
    fs::remove(p.string() + "-shm");
    return p;
}
}  // namespace

ENCLAVE_TEST(binds_and_reads_every_type) {
    auto db = Database::open(temp_db("types.db"));
    CHECK_EQ(db.query_int64("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'"), int64_t{1});
    CHECK_EQ(db.query_int64("PRAGMA synchronous"), int64_t{2});  // FULL
    db.exec("CREATE TABLE t(i INTEGER, d REAL, s TEXT, n TEXT, b BLOB)");
    auto ins = db.prepare("INSERT INTO t VALUES(?,?,?,?,?)");
    const std::string blob("a\0b", 3);
    ins.bind(1, int64_t{1} << 40).bind(2, 2.5).bind(3, std::string_view("héllo")).bind(4, nullptr);
    ins.bind_blob(5, blob.data(), blob.size());
    CHECK(!ins.step());
    CHECK_EQ(db.changes(), 1);
    CHECK_EQ(db.last_insert_rowid(), int64_t{1});
    ins.reset();
    ins.bind(1, 7).bind(3, "x");
    ins.run();
    CHECK_EQ(db.last_insert_rowid(), int64_t{2});
    auto q = db.prepare("SELECT i, d, s, n, b FROM t ORDER BY rowid");
    REQUIRE(q.step());
    CHECK_EQ(q.column_int64(0), int64_t{1} << 40);
    CHECK_EQ(q.column_double(1), 2.5);
    CHECK_EQ(q.column_text(2), std::string("héllo"));
    CHECK(q.column_is_null(3));
    CHECK_EQ(q.column_blob(4), blob);
    REQUIRE(q.step());
    CHECK_EQ(q.column_int64(0), int64_t{7});
    CHECK(q.column_is_null(1));  // bindings were cleared by reset()
    CHECK(!q.step());
    CHECK_EQ(db.integrity_check(), std::string("ok"));
}

ENCLAVE_TEST(a_transaction_rolls_back_unless_committed) {
    auto db = Database::open(temp_db("tx.db"));
    db.exec("CREATE TABLE t(i INTEGER)");
    {
        Transaction tx(db);
        db.exec("INSERT INTO t VALUES(1)");
    }
    CHECK_EQ(db.query_int64("SELECT count(*) FROM t"), int64_t{0});
    {
        Transaction tx(db);
        db.exec("INSERT INTO t VALUES(1)");
        tx.commit();
    }
    CHECK_EQ(db.query_int64("SELECT count(*) FROM t"), int64_t{1});
    CHECK(!db.in_transaction());
}

ENCLAVE_TEST(errors_name_the_file_and_their_kind) {
    const auto path = temp_db("err.db");
    auto db = Database::open(path);
    db.exec("CREATE TABLE t(i INTEGER UNIQUE)");
    db.exec("INSERT INTO t VALUES(1)");
    try {
        db.exec("INSERT INTO t VALUES(1)");
        CHECK(false);
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::constraint);
        CHECK(std::string(e.what()).find(path.string()) != std::string::npos);
        CHECK(std::string(e.what()).find("UNIQUE") != std::string::npos);
    }
    CHECK_THROWS_WITH(db.prepare("SELEC nothing"), StoreError, "syntax error");

    // Another connection holding the write lock: busy after the timeout, not a hang.
    OpenOptions quick;
    quick.busy_timeout_ms = 50;
    auto other = Database::open(path, quick);
    Transaction holder(db);
    try {
        Transaction tx(other);
        CHECK(false);
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::busy);
    }
}

ENCLAVE_TEST(a_full_database_is_told_apart_and_keeps_what_was_committed) {
    auto db = Database::open(temp_db("full.db"));
    db.exec("CREATE TABLE t(s TEXT)");
    db.exec("INSERT INTO t VALUES('kept')");
    const int64_t pages = db.query_int64("PRAGMA page_count");
    db.exec("PRAGMA max_page_count=" + std::to_string(pages + 2));
    bool full = false;
    try {
        Transaction tx(db);
        auto ins = db.prepare("INSERT INTO t VALUES(?)");
        const std::string big(4096, 'x');
        for (int i = 0; i < 100; ++i) {
            ins.bind(1, big);
            ins.run();
            ins.reset();
        }
        tx.commit();
    } catch (const StoreError& e) {
        full = e.kind() == StoreError::Kind::full && e.write_failed();
    }
    CHECK(full);
    CHECK_EQ(db.query_int64("SELECT count(*) FROM t"), int64_t{1});
    CHECK_EQ(db.integrity_check(), std::string("ok"));
}

ENCLAVE_TEST(open_without_create_refuses_a_missing_file) {
    OpenOptions o;
    o.create = false;
    try {
        Database::open(temp_db("missing.db"), o);
        CHECK(false);
    } catch (const StoreError& e) {
        CHECK(e.kind() == StoreError::Kind::cantopen);
        CHECK(std::string(e.what()).find("missing.db") != std::string::npos);
    }
}

ENCLAVE_TEST_MAIN()
