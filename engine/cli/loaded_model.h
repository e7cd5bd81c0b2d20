// What run and bench share: a model file opened, its backend, model, tokenizer and a KV cache.
#pragma once

#include <memory>
#include <string>

#include "args.h"
#include "core/backend/backend.h"
#include "core/model/model.h"
#include "core/runtime/kv_cache.h"
#include "core/tokenizer/chat_template.h"
#include "core/tokenizer/tokenizer.h"

namespace enclave::cli {

struct LoadedModel {
    std::unique_ptr<Backend> backend;
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tokenizer;  // null when load_tokenizer was false
    std::unique_ptr<KvCache> cache;
    double load_seconds = 0;
};

// Which model, where, on what: from flags, or from a config file with flags over it.
struct ModelLoadSpec {
    std::string model;      // empty: the default model
    std::string model_dir;  // empty: the default model directory
    std::string backend = "cpu";
    int threads = 0;        // 0: all cores
    int64_t ctx = 0;        // KV cache tokens (all sequences); 0: kv_share, ctx_default, default_kv_cache_tokens(trained)
    double kv_share = 0;    // > 0: the KV cache takes this share of the backend's memory left after the weights
};

// Flags understood: --model, --model-dir, --backend, --threads, --ctx; unset ones keep `base`'s values.
ModelLoadSpec model_spec_from_args(const Args& args, ModelLoadSpec base = {});
LoadedModel load_model(const ModelLoadSpec& spec, int64_t ctx_default, bool load_tokenizer);
// The named template when override_name is set, else the one the file's tokenizer.chat_template is
// detected as; InvalidArgument when the file has none or an unknown one.
ChatTemplate chat_template_for(const Model& model, const std::string& override_name);

inline LoadedModel load_model_from_args(const Args& args, int64_t ctx_default, bool load_tokenizer) {
    return load_model(model_spec_from_args(args), ctx_default, load_tokenizer);
}

// Flag specs of the above, for a command's Args declaration.
#define ENCLAVE_MODEL_FLAGS                                                                              \
    {"model", true, "model name in the model directory, or a path (default: the default model)"},        \
        {"model-dir", true, "model directory (default: $ENCLAVE_MODEL_DIR or ~/.local/share/enclave/models)"}, \
        {"backend", true, "cpu (default) or cuda"}, {"threads", true, "CPU threads (default: all cores)"},  \
        {"ctx", true, "context (KV cache) size in tokens"}

}  // namespace enclave::cli
