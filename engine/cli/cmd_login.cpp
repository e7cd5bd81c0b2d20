// login: sign in to a running engine (its socket, or its TLS listener) and print the session token, for
// --session / $ENCLAVE_SESSION of user|key|audit:  export ENCLAVE_SESSION=$(enclave-engine login ...)
#include <cstdio>

#include "commands.h"
#include "identity_client.h"

namespace enclave::cli {

int cmd_login(const std::vector<std::string>& argv) {
    const Args args("login", argv,
                    {ENCLAVE_ENGINE_CONNECT_FLAGS,
                     {"name", true, "the user's name"},
                     {"password-file", true, "read the password from this file's first line (- for stdin)"},
                     {"help", false, "show this help"}});
    if (args.has("help")) {
        std::fputs(args.help().c_str(), stdout);
        return 0;
    }
    const auto name = args.get("name");
    if (!name || name->empty()) throw UsageError("login needs --name");
    const std::string token = login_through_engine(args, *name, read_password(args, "password: ", false));
    std::printf("%s\n", token.c_str());
    return 0;
}

}  // namespace enclave::cli
