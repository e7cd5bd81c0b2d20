// The default model (SmolLM2-135M-Instruct Q4_1, written by llama.cpp's GGUF writer) opens, has the
// structure a llama model needs, and GgufWriter re-encodes it byte for byte: the strongest check that our
// reader and writer agree with the reference implementation on real data.
#include <cstdlib>

#include "check.h"
#include "core/gguf/gguf_file.h"
#include "core/gguf/gguf_writer.h"
#include "gguf_test_util.h"

using namespace enclave;
using namespace enclave::gguf;

ENCLAVE_TEST(default_model_opens_and_re_encodes_identically) {
    const char* model = std::getenv("ENCLAVE_DEFAULT_MODEL");
    if (!model || !*model || !std::filesystem::exists(model))
        SKIP("ENCLAVE_DEFAULT_MODEL is not set or missing (./enclave test sets it)");
    const GgufFile f = GgufFile::open(model);
    CHECK_EQ(f.version(), 3u);
    CHECK_EQ(f.get_string("general.architecture").value_or(""), std::string("llama"));
    const Array* tokens = f.get_array("tokenizer.ggml.tokens");
    REQUIRE(tokens != nullptr);
    CHECK_EQ(tokens->element_type, ValueType::STRING);
    const TensorInfo* embd = f.find_tensor("token_embd.weight");
    REQUIRE(embd != nullptr);
    REQUIRE(embd->ne.size() == 2);
    CHECK_EQ(static_cast<size_t>(embd->ne[1]), tokens->size());
    CHECK_EQ(static_cast<uint64_t>(embd->ne[0]), f.get_uint("llama.embedding_length").value_or(0));
    const uint64_t n_layers = f.get_uint("llama.block_count").value_or(0);
    REQUIRE(n_layers > 0);
    CHECK(f.find_tensor("blk." + std::to_string(n_layers - 1) + ".attn_q.weight") != nullptr);

    GgufWriter w(static_cast<uint32_t>(f.alignment()));
    for (const KeyValue& kv : f.metadata()) w.set_value(kv.key, kv.value);
    for (const TensorInfo& t : f.tensors()) {
        const uint8_t* p = f.tensor_data(t);
        w.add_tensor(t.name, t.type, t.ne, std::vector<uint8_t>(p, p + t.n_bytes));
    }
    const std::vector<uint8_t> copy = w.to_bytes();
    REQUIRE(copy.size() == f.file_size());
    size_t first_diff = 0;
    while (first_diff < copy.size() && copy[first_diff] == f.mapped_bytes()[first_diff]) ++first_diff;
    CHECK_MSG(first_diff == copy.size(), "re-encoded file differs first at byte " + std::to_string(first_diff));
}

ENCLAVE_TEST_MAIN()
