// What run and bench share: a model file opened, its backend, model, tokenizer and a KV cache.
#pragma once

#include <memory>
#include <string>

#include "args.h"
#include "core/backend/backend.h"
#include "core/model/model.h"
#include "core/runtime/kv_cache.h"
#include "core/tokenizer/tokenizer.h"

namespace enclave::cli {

struct LoadedModel {
    std::unique_ptr<Backend> backend;
    std::unique_ptr<Model> model;
    std::unique_ptr<Tokenizer> tokenizer;  // null when load_tokenizer was false
    std::unique_ptr<KvCache> cache;
    double load_seconds = 0;
};

// Flags understood: --model, --model-dir, --backend, --threads, --ctx. ctx_default 0: min(4096, trained).
LoadedModel load_model_from_args(const Args& args, int64_t ctx_default, bool load_tokenizer);

// Flag specs of the above, for a command's Args declaration.
#define ENCLAVE_MODEL_FLAGS                                                                              \
    {"model", true, "model name in the model directory, or a path (default: the default model)"},        \
        {"model-dir", true, "model directory (default: $ENCLAVE_MODEL_DIR or ~/.local/share/enclave/models)"}, \
        {"backend", true, "cpu (default) or cuda"}, {"threads", true, "CPU threads (default: all cores)"},  \
        {"ctx", true, "context (KV cache) size in tokens"}

}  // namespace enclave::cli
