// user add|list|disable|enable|passwd|role: accounts, on the state directory or through the socket.
#include <cstdio>

#include "commands.h"
#include "identity_client.h"
#include "json_writer.h"

namespace enclave::cli {

namespace {
constexpr const char* kUserUsage =
    "usage: enclave-engine user <add|list|disable|enable|passwd|role> [flags]\n"
    "  add     --name NAME --role admin|analyst|auditor [--password-file FILE|-]\n"
    "  list    [--json]\n"
    "  disable --name NAME        enable --name NAME\n"
    "  passwd  --name NAME [--password-file FILE|-]\n"
    "  role    --name NAME --role ROLE\n"
    "Passwords are read from a prompt without echo, or the first line of --password-file (- is stdin).\n";
}  // namespace

int cmd_user(const std::vector<std::string>& argv) {
    if (argv.empty() || argv[0] == "--help") {
        std::fputs(kUserUsage, argv.empty() ? stderr : stdout);
        return argv.empty() ? 2 : 0;
    }
    const std::string verb = argv[0];
    const Args args("user " + verb, {argv.begin() + 1, argv.end()},
                    {ENCLAVE_IDENTITY_FLAGS,
                     {"name", true, "the user's name"},
                     {"role", true, "admin, analyst or auditor"},
                     {"password-file", true, "read the password from this file's first line (- for stdin)"},
                     {"json", false, "print JSON"}});
    if (args.has("help")) {
        std::fputs(kUserUsage, stdout);
        return 0;
    }
    auto need = [&](const char* flag) {
        const auto v = args.get(flag);
        if (!v || v->empty()) throw UsageError("user " + verb + " needs --" + flag);
        return *v;
    };
    auto client = open_identity_client(args);
    if (verb == "add") {
        const std::string name = need("name");
        const sec::Role role = parse_role(need("role"));
        const auto u = client->create_user(name, role, read_password(args, "password: ", true));
        std::printf("created user %s (id %lld, %s)\n", u.name.c_str(), static_cast<long long>(u.id),
                    std::string(sec::role_name(u.role)).c_str());
        return 0;
    }
    if (verb == "list") {
        const auto users = client->list_users();
        if (args.has("json")) {
            JsonWriter j;
            j.begin_array();
            for (const auto& u : users)
                j.begin_object()
                    .key("id").value(u.id)
                    .key("name").value(u.name)
                    .key("role").value(std::string(sec::role_name(u.role)))
                    .key("disabled").value(u.disabled)
                    .key("created_ms").value(u.created_ms)
                    .key("last_login_ms").value(u.last_login_ms)
                    .key("locked_until_ms").value(u.locked_until_ms)
                    .end_object();
            j.end_array();
            std::printf("%s\n", j.str().c_str());
        } else {
            std::printf("%-6s %-24s %-8s %s\n", "id", "name", "role", "state");
            for (const auto& u : users)
                std::printf("%-6lld %-24s %-8s %s\n", static_cast<long long>(u.id), u.name.c_str(),
                            std::string(sec::role_name(u.role)).c_str(),
                            u.disabled ? "disabled" : (u.locked_until_ms ? "locked" : "active"));
        }
        return 0;
    }
    const std::string name = need("name");
    const int64_t id = client->user_id(name);
    sec::UserUpdate update;
    if (verb == "disable") update.disabled = true;
    else if (verb == "enable") update.disabled = false;
    else if (verb == "passwd") update.new_password = read_password(args, "new password: ", true);
    else if (verb == "role") update.role = parse_role(need("role"));
    else throw UsageError("unknown user command '" + verb + "'\n" + kUserUsage);
    client->update_user(id, update);
    std::printf("%s: done (the user's sessions were ended where this revokes them)\n", name.c_str());
    return 0;
}

}  // namespace enclave::cli
