// Command-line flags of one subcommand: --name VALUE, --name=VALUE, --switch. Every flag is declared; an
// unknown flag, a missing value or a number out of range throws UsageError naming the flag.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace enclave::cli {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct FlagSpec {
    const char* name;      // without the leading dashes
    bool takes_value;
    const char* help;
};

class Args {
public:
    Args(const std::string& command, const std::vector<std::string>& argv, std::initializer_list<FlagSpec> specs);

    bool has(const std::string& name) const;
    std::optional<std::string> get(const std::string& name) const;  // the last value given
    std::vector<std::string> get_all(const std::string& name) const;
    std::string get_or(const std::string& name, const std::string& fallback) const;
    int64_t get_int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const;
    double get_double(const std::string& name, double fallback) const;
    std::string help() const;

private:
    std::string command_;
    std::vector<FlagSpec> specs_;
    std::map<std::string, std::vector<std::string>> values_;
};

}  // namespace enclave::cli
