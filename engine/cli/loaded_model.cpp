#include "loaded_model.h"

#include <algorithm>
#include <chrono>

#include "core/gguf/gguf_file.h"
#include "core/model/model_paths.h"
#ifdef ENCLAVE_HAVE_CUDA
#include "core/backend/cuda/cuda_backend.h"
#endif

namespace enclave::cli {

ModelLoadSpec model_spec_from_args(const Args& args, ModelLoadSpec base) {
    if (const auto v = args.get("model")) base.model = *v;
    if (const auto v = args.get("model-dir")) base.model_dir = *v;
    if (const auto v = args.get("backend")) base.backend = *v;
    base.threads = static_cast<int>(args.get_int("threads", base.threads, 0, 1024));
    base.ctx = args.get_int("ctx", base.ctx, 0, int64_t{1} << 24);
    return base;
}

LoadedModel load_model(const ModelLoadSpec& spec, int64_t ctx_default, bool load_tokenizer) {
    const auto t0 = std::chrono::steady_clock::now();
    LoadedModel m;
    if (spec.backend == "cpu") {
        m.backend = make_cpu_backend(spec.threads);
    } else if (spec.backend == "cuda") {
#ifdef ENCLAVE_HAVE_CUDA
        m.backend = make_cuda_backend(0);
#else
        throw UsageError("--backend cuda: this build has no CUDA backend (built with ENCLAVE_CUDA=OFF)");
#endif
    } else {
        throw UsageError("--backend must be cpu or cuda (got '" + spec.backend + "')");
    }
    const auto dir = spec.model_dir.empty() ? default_model_dir() : std::filesystem::path(spec.model_dir);
    auto file = gguf::GgufFile::open(resolve_model(spec.model, dir));
    if (load_tokenizer) m.tokenizer = Tokenizer::from_gguf(file);
    m.model = Model::load(std::move(file), *m.backend);
    const ModelConfig& config = m.model->config();
    int64_t ctx = spec.ctx;
    if (ctx <= 0 && spec.kv_share > 0) {
        const size_t available = m.backend->available_memory();
        const auto per_token = static_cast<double>(KvCache::bytes_per_token(config));
        const double tokens = spec.kv_share * static_cast<double>(available) / per_token;
        ctx = static_cast<int64_t>(std::min(tokens, static_cast<double>(k_max_kv_cache_tokens)));
        if (ctx < KvCache::k_default_block_size)
            throw ResourceExhausted("kv_cache_share " + std::to_string(spec.kv_share) + " of the " +
                                    std::to_string(available >> 20) + " MiB available holds no KV cache block");
    }
    if (ctx <= 0) ctx = ctx_default > 0 ? ctx_default : default_kv_cache_tokens(config.n_ctx_train);
    m.cache = std::make_unique<KvCache>(*m.backend, config, ctx);
    m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return m;
}

ChatTemplate chat_template_for(const Model& model, const std::string& override_name) {
    if (!override_name.empty()) return ChatTemplate::from_name(override_name);
    const auto source = model.file().get_string("tokenizer.chat_template");
    if (!source) throw InvalidArgument("the model has no tokenizer.chat_template; name a template (--template NAME)");
    return ChatTemplate::detect(*source);
}

}  // namespace enclave::cli
