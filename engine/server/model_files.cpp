#include "server/model_files.h"

#include <algorithm>
#include <map>

#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_config.h"
#include "core/runtime/kv_cache.h"

namespace enclave::server {

std::vector<ModelFileInfo> list_model_files(const std::filesystem::path& dir, int64_t context_tokens) {
    std::error_code ec;
    std::filesystem::directory_iterator it(dir, ec);
    if (ec) throw Error("model directory " + dir.string() + ": " + ec.message());
    std::vector<ModelFileInfo> out;
    for (const auto& entry : it) {
        if (entry.path().extension() != ".gguf" || !entry.is_regular_file(ec)) continue;
        ModelFileInfo info;
        info.file = entry.path().filename().string();
        info.size_bytes = entry.file_size(ec);
        try {
            const auto file = gguf::GgufFile::open(entry.path());
            info.architecture = file.get_string("general.architecture").value_or("");
            std::map<std::string, int64_t> by_type;
            uint64_t tensor_bytes = 0;
            for (const auto& t : file.tensors()) {
                info.parameters += t.n_elements();
                ++by_type[std::string(tensor_type_name(t.type))];
                tensor_bytes += t.n_bytes;
            }
            std::vector<std::pair<std::string, int64_t>> types(by_type.begin(), by_type.end());
            std::stable_sort(types.begin(), types.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
            for (const auto& [name, n] : types) info.tensor_types.push_back(name + " x " + std::to_string(n));
            const ModelConfig config = ModelConfig::from_gguf(file, info.architecture);
            info.context_tokens = config.n_ctx_train;
            const int64_t ctx = context_tokens > 0 ? context_tokens : default_kv_cache_tokens(config.n_ctx_train);
            const uint64_t kv = KvCache::bytes_per_token(config) * static_cast<uint64_t>(ctx);
            info.estimated_memory_bytes = tensor_bytes + kv + (64ull << 20);
        } catch (const std::exception& e) {
            info.error = e.what();
        }
        out.push_back(std::move(info));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.file < b.file; });
    return out;
}

std::filesystem::path model_file_in(const std::filesystem::path& dir, const std::string& file) {
    if (file.empty()) throw InvalidArgument("file: name a .gguf file in the model directory");
    if (file.find('/') != std::string::npos || file.find('\\') != std::string::npos || file == "." || file == ".." ||
        file.find('\0') != std::string::npos)
        throw InvalidArgument("file: '" + file + "' must be a file name in the model directory, not a path");
    const std::string name = file.ends_with(".gguf") ? file : file + ".gguf";
    const auto path = dir / name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        throw InvalidArgument("file: there is no '" + name + "' in the model directory " + dir.string());
    return path;
}

}  // namespace enclave::server
