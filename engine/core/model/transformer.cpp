#include "core/model/transformer.h"

#include <sstream>
#include <string>


namespace enclave {
namespace {

std::string shape_of(const std::vector<int64_t>& ne) {
    std::ostringstream os;
    os << '{';
    for (size_t i = 0; i < ne.size(); ++i) os << (i ? ", " : "") << ne[i];
    os << '}';
    return os.str();
}

class Binder {
public:
    Binder(const gguf::GgufFile& file, Backend& backend) : file_(file), backend_(backend) {}

    // `ne` in GGUF order (innermost first). Returns an empty Tensor when optional and absent.
    Tensor bind(const std::string& name, std::vector<int64_t> ne, bool required = true, bool float_only = false) {
        const gguf::TensorInfo* info = file_.find_tensor(name);
        if (!info) {
            if (required) throw ModelFormatError(file_.path().string() + ": tensor " + name + " is missing");
            return {};
        }
        auto actual = info->ne;
        while (actual.size() > ne.size() && actual.back() == 1) actual.pop_back();
        if (actual != ne)
            throw ModelFormatError(file_.path().string() + ": tensor " + name + " has shape " + shape_of(info->ne) +
                                   ", expected " + shape_of(ne));
        const auto ti = tensor_type_info(info->type);
        if (!ti.is_weight_type || (float_only && info->type != TensorType::F32))
            throw ModelFormatError(file_.path().string() + ": tensor " + name + " has type " +
                                   std::string(ti.name) + (float_only ? ", expected f32" : ", not a weight type"));
        int64_t full[4] = {1, 1, 1, 1};
        for (size_t i = 0; i < ne.size(); ++i) full[i] = ne[i];
        return backend_.load_weight(file_.tensor_data(*info), info->type, full);
    }

private:
    const gguf::GgufFile& file_;
    Backend& backend_;
};

}  // namespace

TransformerWeights bind_transformer_weights(const gguf::GgufFile& file, const ArchitectureSpec& spec,
                                            ModelConfig& c, Backend& backend) {
    Binder b(file, backend);
    TransformerWeights w;
    const gguf::TensorInfo* embd = file.find_tensor("token_embd.weight");
    if (!embd) throw ModelFormatError(file.path().string() + ": tensor token_embd.weight is missing");
    if (embd->ne.size() < 2) throw ModelFormatError(file.path().string() + ": tensor token_embd.weight is not a matrix");
    c.n_vocab = embd->ne[1];
    w.tok_embd = b.bind("token_embd.weight", {c.n_embd, c.n_vocab});
    w.output_norm = b.bind("output_norm.weight", {c.n_embd}, true, true);
    w.output = b.bind("output.weight", {c.n_embd, c.n_vocab}, false);
    c.tied_output = w.output.data == nullptr;
    if (c.tied_output) w.output = w.tok_embd;
    w.rope_freqs = b.bind("rope_freqs.weight", {c.n_rot / 2}, false, true);
    w.layers.resize(static_cast<size_t>(c.n_layer));
    for (int64_t l = 0; l < c.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights& L = w.layers[static_cast<size_t>(l)];
        L.attn_norm = b.bind(p + "attn_norm.weight", {c.n_embd}, true, true);
        L.wq = b.bind(p + "attn_q.weight", {c.n_embd, c.q_dim()});
        L.wk = b.bind(p + "attn_k.weight", {c.n_embd, c.kv_dim()});
        L.wv = b.bind(p + "attn_v.weight", {c.n_embd, c.kv_dim()});
        L.wo = b.bind(p + "attn_output.weight", {c.q_dim(), c.n_embd});
        L.bq = b.bind(p + "attn_q.bias", {c.q_dim()}, spec.qkv_bias, true);
        L.bk = b.bind(p + "attn_k.bias", {c.kv_dim()}, spec.qkv_bias, true);
        L.bv = b.bind(p + "attn_v.bias", {c.kv_dim()}, spec.qkv_bias, true);
        L.bo = b.bind(p + "attn_output.bias", {c.n_embd}, false, true);
        L.ffn_norm = b.bind(p + "ffn_norm.weight", {c.n_embd}, true, true);
        L.ffn_gate = b.bind(p + "ffn_gate.weight", {c.n_embd, c.n_ff});
        L.ffn_up = b.bind(p + "ffn_up.weight", {c.n_embd, c.n_ff});
        L.ffn_down = b.bind(p + "ffn_down.weight", {c.n_ff, c.n_embd});
    }
    return w;
}

}  // namespace enclave
