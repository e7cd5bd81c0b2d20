// key create|list|revoke: API keys for HTTP clients; create prints the secret once.
#include <chrono>
#include <cstdio>

#include "commands.h"
#include "identity_client.h"
#include "json_writer.h"

namespace enclave::cli {

namespace {
constexpr const char* kKeyUsage =
    "usage: enclave-engine key <create|list|revoke> [flags]\n"
    "  create --user NAME --name KEYNAME [--role ROLE] [--model M ...] [--expires-days N]\n"
    "  list   [--user NAME] [--json]\n"
    "  revoke --id ID\n";
}  // namespace

int cmd_key(const std::vector<std::string>& argv) {
    if (argv.empty() || argv[0] == "--help") {
        std::fputs(kKeyUsage, argv.empty() ? stderr : stdout);
        return argv.empty() ? 2 : 0;
    }
    const std::string verb = argv[0];
    const Args args("key " + verb, {argv.begin() + 1, argv.end()},
                    {ENCLAVE_IDENTITY_FLAGS,
                     {"user", true, "the key's owner"},
                     {"name", true, "a name to recognise the key by"},
                     {"role", true, "the key's role (default: the owner's)"},
                     {"model", true, "limit the key to this model (repeatable)"},
                     {"expires-days", true, "expire after this many days (default: never)"},
                     {"id", true, "the key's id"},
                     {"json", false, "print JSON"}});
    if (args.has("help")) {
        std::fputs(kKeyUsage, stdout);
        return 0;
    }
    auto client = open_identity_client(args);
    if (verb == "create") {
        const auto user = args.get("user");
        const auto name = args.get("name");
        if (!user || !name) throw UsageError("key create needs --user and --name");
        sec::KeySpec spec;
        spec.user_id = client->user_id(*user);
        spec.name = *name;
        if (const auto r = args.get("role")) spec.role = parse_role(*r);  // none: the owner's role
        spec.models = args.get_all("model");
        if (const int64_t days = args.get_int("expires-days", 0, 0, 3650))
            spec.expires_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count() +
                              days * 86'400'000;
        const auto k = client->create_key(spec);
        std::printf("key %lld created for %s; its secret (shown this once, keep it safe):\n%s\n",
                    static_cast<long long>(k.key.id), user->c_str(), k.secret.c_str());
        return 0;
    }
    if (verb == "list") {
        const int64_t uid = args.get("user") ? client->user_id(*args.get("user")) : 0;
        const auto keys = client->list_keys(uid);
        if (args.has("json")) {
            JsonWriter j;
            j.begin_array();
            for (const auto& k : keys)
                j.begin_object()
                    .key("id").value(k.id)
                    .key("name").value(k.name)
                    .key("prefix").value(k.prefix)
                    .key("user_id").value(k.user_id)
                    .key("role").value(std::string(sec::role_name(k.role)))
                    .key("models").array(k.models)
                    .key("expires_ms").value(k.expires_ms)
                    .key("revoked").value(k.revoked)
                    .end_object();
            j.end_array();
            std::printf("%s\n", j.str().c_str());
        } else {
            std::printf("%-6s %-20s %-14s %-6s %-8s %s\n", "id", "name", "prefix", "user", "role", "state");
            for (const auto& k : keys)
                std::printf("%-6lld %-20s %-14s %-6lld %-8s %s\n", static_cast<long long>(k.id), k.name.c_str(),
                            k.prefix.c_str(), static_cast<long long>(k.user_id),
                            std::string(sec::role_name(k.role)).c_str(), k.revoked ? "revoked" : "active");
        }
        return 0;
    }
    if (verb == "revoke") {
        const int64_t id = args.get_int("id", 0, 1, INT64_MAX);
        if (!id) throw UsageError("key revoke needs --id");
        client->revoke_key(id);
        std::printf("key %lld revoked\n", static_cast<long long>(id));
        return 0;
    }
    throw UsageError("unknown key command '" + verb + "'\n" + kKeyUsage);
}

}  // namespace enclave::cli
