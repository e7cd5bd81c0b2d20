#include "args.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace enclave::cli {

Args::Args(const std::string& command, const std::vector<std::string>& argv, std::initializer_list<FlagSpec> specs)
    : command_(command), specs_(specs) {
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a.rfind("--", 0) != 0 || a.size() == 2)
            throw UsageError("'" + command + "': unexpected argument '" + a + "' (flags start with --)");
        std::string name = a.substr(2);
        std::optional<std::string> inline_value;
        if (const auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        const FlagSpec* spec = nullptr;
        for (const auto& s : specs_)
            if (name == s.name) spec = &s;
        if (!spec) throw UsageError("'" + command + "': unknown flag --" + name + " (see enclave-engine " + command + " --help)");
        if (!spec->takes_value) {
            if (inline_value) throw UsageError("--" + name + " takes no value");
            values_[name].push_back("1");
            continue;
        }
        if (inline_value) {
            values_[name].push_back(*inline_value);
        } else {
            if (i + 1 >= argv.size()) throw UsageError("--" + name + " needs a value");
            values_[name].push_back(argv[++i]);
        }
    }
}

bool Args::has(const std::string& name) const { return values_.count(name) != 0; }

std::optional<std::string> Args::get(const std::string& name) const {
    const auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second.back();
}

std::vector<std::string> Args::get_all(const std::string& name) const {
    const auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
    return get(name).value_or(fallback);
}

int64_t Args::get_int(const std::string& name, int64_t fallback, int64_t min, int64_t max) const {
    const auto v = get(name);
    if (!v) return fallback;
    errno = 0;
    char* end = nullptr;
    const long long x = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno == ERANGE)
        throw UsageError("--" + name + " needs a whole number (got '" + *v + "')");
    if (x < min || x > max)
        throw UsageError("--" + name + " = " + *v + " is out of range (" + std::to_string(min) + " to " + std::to_string(max) + ")");
    return x;
}

double Args::get_double(const std::string& name, double fallback) const {
    const auto v = get(name);
    if (!v) return fallback;
    char* end = nullptr;
    const double x = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || !std::isfinite(x)) throw UsageError("--" + name + " needs a number (got '" + *v + "')");
    return x;
}

std::string Args::help() const {
    std::string h = "usage: enclave-engine " + command_ + " [flags]\n";
    for (const auto& s : specs_) {
        std::string left = std::string("  --") + s.name + (s.takes_value ? " VALUE" : "");
        if (left.size() < 28) left.resize(28, ' ');
        h += left + " " + s.help + "\n";
    }
    return h;
}

}  // namespace enclave::cli
