// The subcommands of enclave-engine. Each parses its own flags and returns the process exit code;
// errors propagate as exceptions and main() turns them into a message and an exit code.
#pragma once

#include <string>
#include <vector>

namespace enclave::cli {

int cmd_run(const std::vector<std::string>& args);
int cmd_tokenize(const std::vector<std::string>& args);
int cmd_inspect(const std::vector<std::string>& args);
int cmd_bench(const std::vector<std::string>& args);
int cmd_serve(const std::vector<std::string>& args);  // only with ENCLAVE_SERVER
int cmd_user(const std::vector<std::string>& args);   // only with ENCLAVE_SERVER
int cmd_key(const std::vector<std::string>& args);    // only with ENCLAVE_SERVER
int cmd_audit(const std::vector<std::string>& args);  // only with ENCLAVE_SERVER
int cmd_permissions(const std::vector<std::string>& args);  // only with ENCLAVE_SERVER
int cmd_login(const std::vector<std::string>& args);        // only with ENCLAVE_SERVER

}  // namespace enclave::cli
