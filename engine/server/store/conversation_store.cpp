#include "server/store/conversation_store.h"

#include <chrono>

#include <nlohmann/json.hpp>

#include "core/common/error.h"

namespace enclave::server {
namespace {

constexpr size_t max_title = 200;
constexpr size_t max_text = 256 * 1024;
constexpr int64_t max_messages = 10'000;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

[[noreturn]] void not_found(int64_t id) {
    throw NotFound("conversation " + std::to_string(id) + " does not exist");
}

ConversationHeader read_header(store::Statement& q) {
    ConversationHeader h;
    h.id = q.column_int64(0);
    h.owner = q.column_int64(1);
    h.title = q.column_text(2);
    h.model = q.column_text(3);
    h.system_prompt = q.column_text(4);
    h.sampling_json = q.column_text(5);
    h.created_ms = q.column_int64(6);
    h.updated_ms = q.column_int64(7);
    h.messages = static_cast<int32_t>(q.column_int64(8));
    return h;
}

constexpr const char* header_columns =
    "SELECT c.id, c.owner, c.title, c.model, c.system_prompt, c.sampling_json, c.created_ms, c.updated_ms, "
    "(SELECT count(*) FROM messages m WHERE m.conversation = c.id) FROM conversations c ";

}  // namespace

ConversationStore::ConversationStore(const std::filesystem::path& file) : db_(store::Database::open(file)) {
    db_.exec(R"(
        CREATE TABLE IF NOT EXISTS conversations (
            id INTEGER PRIMARY KEY, owner INTEGER NOT NULL, title TEXT NOT NULL, model TEXT NOT NULL,
            system_prompt TEXT NOT NULL, sampling_json TEXT NOT NULL,
            created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);
        CREATE INDEX IF NOT EXISTS conversations_owner ON conversations(owner, updated_ms);
        CREATE TABLE IF NOT EXISTS messages (
            id INTEGER PRIMARY KEY, conversation INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')), content TEXT NOT NULL,
            time_ms INTEGER NOT NULL, tokens INTEGER NOT NULL, finish_reason TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS messages_conversation ON messages(conversation, id);
    )");
}

std::vector<ConversationHeader> ConversationStore::list(int64_t owner) const {
    std::lock_guard lock(mutex_);
    auto q = db_.prepare(std::string(header_columns) + "WHERE c.owner = ? ORDER BY c.updated_ms DESC, c.id DESC");
    q.bind(1, owner);
    std::vector<ConversationHeader> out;
    while (q.step()) out.push_back(read_header(q));
    return out;
}

ConversationHeader ConversationStore::header(int64_t owner, int64_t id) const {
    std::lock_guard lock(mutex_);
    auto q = db_.prepare(std::string(header_columns) + "WHERE c.id = ? AND c.owner = ?");
    q.bind(1, id).bind(2, owner);
    if (!q.step()) not_found(id);
    return read_header(q);
}

std::vector<StoredChatMessage> ConversationStore::messages(int64_t owner, int64_t id) const {
    header(owner, id);  // NotFound for another owner's
    std::lock_guard lock(mutex_);
    auto q = db_.prepare("SELECT role, content, time_ms, tokens, finish_reason FROM messages WHERE conversation = ? ORDER BY id");
    q.bind(1, id);
    std::vector<StoredChatMessage> out;
    while (q.step())
        out.push_back({q.column_text(0), q.column_text(1), q.column_int64(2), q.column_int64(3), q.column_text(4)});
    return out;
}

ConversationHeader ConversationStore::create(int64_t owner, const std::string& title, const std::string& model,
                                             const std::string& system_prompt, const std::string& sampling_json) {
    if (title.size() > max_title) throw InvalidArgument("title: at most " + std::to_string(max_title) + " bytes");
    if (model.size() > 128) throw InvalidArgument("model: at most 128 bytes");
    if (system_prompt.size() > max_text) throw InvalidArgument("system_prompt: at most 256 KiB");
    int64_t id = 0;
    {
        std::lock_guard lock(mutex_);
        const int64_t now = now_ms();
        auto q = db_.prepare(
            "INSERT INTO conversations (owner, title, model, system_prompt, sampling_json, created_ms, updated_ms) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)");
        q.bind(1, owner).bind(2, title.empty() ? std::string("New conversation") : title).bind(3, model);
        q.bind(4, system_prompt).bind(5, sampling_json.empty() ? std::string("{}") : sampling_json).bind(6, now).bind(7, now);
        q.run();
        id = db_.last_insert_rowid();
    }
    return header(owner, id);
}

void ConversationStore::remove(int64_t owner, int64_t id) {
    std::lock_guard lock(mutex_);
    store::Transaction tx(db_);
    auto q = db_.prepare("DELETE FROM conversations WHERE id = ? AND owner = ?");
    q.bind(1, id).bind(2, owner);
    q.run();
    if (db_.changes() == 0) not_found(id);
    tx.commit();
}

void ConversationStore::append(int64_t owner, int64_t id, const StoredChatMessage& m) {
    if (m.content.size() > max_text) throw InvalidArgument("content: a message holds at most 256 KiB");
    if (m.role != "system" && m.role != "user" && m.role != "assistant")
        throw InvalidArgument("role: '" + m.role + "' is not system, user or assistant");
    std::lock_guard lock(mutex_);
    store::Transaction tx(db_);
    auto owned = db_.prepare("SELECT (SELECT count(*) FROM messages WHERE conversation = ?1) FROM conversations WHERE id = ?1 AND owner = ?2");
    owned.bind(1, id).bind(2, owner);
    if (!owned.step()) not_found(id);
    if (owned.column_int64(0) >= max_messages)
        throw InvalidArgument("conversation " + std::to_string(id) + " holds the most messages it may (10000): start a new one");
    const int64_t now = m.time_ms ? m.time_ms : now_ms();
    auto q = db_.prepare("INSERT INTO messages (conversation, role, content, time_ms, tokens, finish_reason) VALUES (?, ?, ?, ?, ?, ?)");
    q.bind(1, id).bind(2, m.role).bind(3, m.content).bind(4, now).bind(5, m.tokens).bind(6, m.finish_reason);
    q.run();
    auto touch = db_.prepare("UPDATE conversations SET updated_ms = ? WHERE id = ?");
    touch.bind(1, now).bind(2, id);
    touch.run();
    tx.commit();
}

std::string ConversationStore::export_owner_json(int64_t owner) const {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& h : list(owner)) {
        nlohmann::json c = {{"id", h.id},           {"title", h.title},         {"model", h.model},
                            {"system_prompt", h.system_prompt}, {"created_ms", h.created_ms}, {"updated_ms", h.updated_ms}};
        c["messages"] = nlohmann::json::array();
        for (const auto& m : messages(owner, h.id))
            c["messages"].push_back({{"role", m.role}, {"content", m.content}, {"time_ms", m.time_ms},
                                     {"tokens", m.tokens}, {"finish_reason", m.finish_reason}});
        out.push_back(std::move(c));
    }
    return out.dump();
}

int64_t ConversationStore::erase_owner(int64_t owner) {
    std::lock_guard lock(mutex_);
    store::Transaction tx(db_);
    auto q = db_.prepare("DELETE FROM conversations WHERE owner = ?");
    q.bind(1, owner);
    q.run();
    const int64_t n = db_.changes();
    tx.commit();
    db_.exec("PRAGMA wal_checkpoint(TRUNCATE)");  // erased text must not linger in the WAL file
    return n;
}

}  // namespace enclave::server
