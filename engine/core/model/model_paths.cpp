#include "core/model/model_paths.h"

#include <cstdlib>

#include "core/common/error.h"

namespace enclave {

std::filesystem::path default_model_dir() {
    if (const char* d = std::getenv("ENCLAVE_MODEL_DIR"); d && *d) return d;
    if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return std::filesystem::path(x) / "enclave" / "models";
    if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".local" / "share" / "enclave" / "models";
    return std::filesystem::path("models");
}

std::filesystem::path resolve_model(const std::string& name_or_path, const std::filesystem::path& model_dir) {
    namespace fs = std::filesystem;
    const std::string name = name_or_path.empty() ? std::string(default_model_file) : name_or_path;
    std::error_code ec;
    if (name.find('/') != std::string::npos || fs::is_regular_file(name, ec)) {
        if (!fs::exists(name, ec)) throw InvalidArgument("model file " + name + " does not exist");
        return name;
    }
    for (const std::string& candidate : {name, name + ".gguf"}) {
        const fs::path p = model_dir / candidate;
        if (fs::is_regular_file(p, ec)) return p;
    }
    throw InvalidArgument("model '" + name + "' not found in " + model_dir.string() +
                          (name_or_path.empty() ? " (run ./enclave setup to install the default model, or pass --model)" : ""));
}

}  // namespace enclave
