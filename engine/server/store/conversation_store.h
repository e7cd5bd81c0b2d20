// ConversationStore: chat conversations kept by the engine, one owner each, in <state>/conversations.db.
//
// Contract
// - Every read and write names the owner; a conversation of another owner is NotFound, worded exactly as
//   one that does not exist (an analyst cannot learn or read another's conversation by id).
// - Writes are transactions in WAL mode with synchronous=FULL: a message appended is on disk when the
//   call returns; StoreError (disk full, I/O) leaves what was stored before intact.
// - Sizes are bounded: title 200 bytes, system prompt and a message 256 KiB, 10,000 messages a conversation.
// - Thread-safe (one connection behind a mutex).
#pragma once

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "server/store/sqlite_db.h"

namespace enclave::server {

struct ConversationHeader {
    int64_t id = 0;
    int64_t owner = 0;
    std::string title;
    std::string model;
    std::string system_prompt;
    std::string sampling_json;  // the conversation's sampling settings, as the API's JSON
    int64_t created_ms = 0;
    int64_t updated_ms = 0;
    int32_t messages = 0;
};

struct StoredChatMessage {
    std::string role;  // system, user, assistant
    std::string content;
    int64_t time_ms = 0;
    int64_t tokens = 0;
    std::string finish_reason;
};

class ConversationStore {
public:
    explicit ConversationStore(const std::filesystem::path& file);

    std::vector<ConversationHeader> list(int64_t owner) const;
    ConversationHeader header(int64_t owner, int64_t id) const;
    std::vector<StoredChatMessage> messages(int64_t owner, int64_t id) const;
    ConversationHeader create(int64_t owner, const std::string& title, const std::string& model,
                              const std::string& system_prompt, const std::string& sampling_json);
    void remove(int64_t owner, int64_t id);
    void append(int64_t owner, int64_t id, const StoredChatMessage& message);

    // GDPR: everything of one owner as JSON (art. 15), and erasure of all of it (art. 17).
    std::string export_owner_json(int64_t owner) const;
    int64_t erase_owner(int64_t owner);

private:
    mutable std::mutex mutex_;
    mutable store::Database db_;
};

}  // namespace enclave::server
