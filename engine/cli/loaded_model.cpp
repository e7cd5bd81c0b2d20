#include "loaded_model.h"

#include <algorithm>
#include <chrono>

#include "core/gguf/gguf_file.h"
#include "core/model/model_paths.h"
#ifdef ENCLAVE_HAVE_CUDA
#include "core/backend/cuda/cuda_backend.h"
#endif

namespace enclave::cli {

LoadedModel load_model_from_args(const Args& args, int64_t ctx_default, bool load_tokenizer) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::string backend_name = args.get_or("backend", "cpu");
    const int threads = static_cast<int>(args.get_int("threads", 0, 0, 1024));
    LoadedModel m;
    if (backend_name == "cpu") {
        m.backend = make_cpu_backend(threads);
    } else if (backend_name == "cuda") {
#ifdef ENCLAVE_HAVE_CUDA
        m.backend = make_cuda_backend(0);
#else
        throw UsageError("--backend cuda: this build has no CUDA backend yet");
#endif
    } else {
        throw UsageError("--backend must be cpu or cuda (got '" + backend_name + "')");
    }
    const auto dir = args.has("model-dir") ? std::filesystem::path(*args.get("model-dir")) : default_model_dir();
    auto file = gguf::GgufFile::open(resolve_model(args.get_or("model", ""), dir));
    if (load_tokenizer) m.tokenizer = Tokenizer::from_gguf(file);
    m.model = Model::load(std::move(file), *m.backend);
    const int64_t trained = m.model->config().n_ctx_train;
    const int64_t fallback = ctx_default > 0 ? ctx_default : std::min<int64_t>(4096, trained);
    const int64_t ctx = args.get_int("ctx", fallback, 1, trained);
    m.cache = std::make_unique<KvCache>(*m.backend, m.model->config(), ctx);
    m.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return m;
}

}  // namespace enclave::cli
