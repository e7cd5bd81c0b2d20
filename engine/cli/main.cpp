// enclave-engine: one binary, one subcommand per job (see docs/api/cli.md).
// Exit codes: 0 ok, 1 runtime failure, 2 bad usage or argument, 3 bad model file.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "core/common/error.h"

namespace {

constexpr const char* usage =
    "usage: enclave-engine <command> [flags]\n"
    "commands:\n"
    "  run        generate from a model: --prompt TEXT | --chat (interactive), --json\n"
    "  tokenize   print the token ids of --text as JSON\n"
    "  inspect    print a GGUF file's metadata and tensor table as JSON\n"
    "  bench      prompt-processing and generation speed: --pp 512 --tg 128 --json\n"
    "  serve      serve a model: OpenAI-compatible HTTP on --http 127.0.0.1:8080\n"
    "  user       users: add | list | disable | enable | passwd | role (state directory or --socket)\n"
    "  key        API keys: create | list | revoke\n"
    "  audit      the audit log: verify | export | query\n"
    "  login      sign in to a running engine (socket or TLS); prints a session token for --session\n"
    "  permissions  who may do what: the permission matrix, every gRPC method and HTTP route (--json)\n"
    "Run 'enclave-engine <command> --help' for a command's flags.\n";

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
        std::fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string command = argv[1];
    const std::vector<std::string> args(argv + 2, argv + argc);
    try {
        if (command == "run") return enclave::cli::cmd_run(args);
        if (command == "tokenize") return enclave::cli::cmd_tokenize(args);
        if (command == "inspect") return enclave::cli::cmd_inspect(args);
        if (command == "bench") return enclave::cli::cmd_bench(args);
#ifdef ENCLAVE_HAVE_SERVER
        if (command == "serve") return enclave::cli::cmd_serve(args);
        if (command == "user") return enclave::cli::cmd_user(args);
        if (command == "key") return enclave::cli::cmd_key(args);
        if (command == "audit") return enclave::cli::cmd_audit(args);
        if (command == "login") return enclave::cli::cmd_login(args);
        if (command == "permissions") return enclave::cli::cmd_permissions(args);
#else
        if (command == "serve") {
            std::fprintf(stderr, "enclave-engine: this build has no serve daemon (built with ENCLAVE_SERVER=OFF)\n");
            return 2;
        }
#endif
        std::fprintf(stderr, "enclave-engine: unknown command '%s'\n%s", command.c_str(), usage);
        return 2;
    } catch (const enclave::cli::UsageError& e) {
        std::fprintf(stderr, "enclave-engine %s: %s\n", command.c_str(), e.what());
        return 2;
    } catch (const enclave::InvalidArgument& e) {
        std::fprintf(stderr, "enclave-engine %s: %s\n", command.c_str(), e.what());
        return 2;
    } catch (const enclave::ModelFormatError& e) {
        std::fprintf(stderr, "enclave-engine %s: bad model file: %s\n", command.c_str(), e.what());
        return 3;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "enclave-engine %s: error: %s\n", command.c_str(), e.what());
        return 1;
    }
}
