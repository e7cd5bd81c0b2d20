#include <cstdio>
#include <map>

#include "args.h"
#include "commands.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_paths.h"
#include "json_writer.h"

namespace enclave::cli {
namespace {

void write_array(JsonWriter& j, const gguf::Array& a, size_t limit) {
    j.begin_array();
    const size_t n = std::min(a.size(), limit);
    for (size_t i = 0; i < n; ++i) {
        if (!a.strings.empty()) j.value(a.strings[i]);
        else if (!a.floats.empty()) j.value(a.floats[i]);
        else if (a.element_type == gguf::ValueType::BOOL) j.value(a.ints[i] != 0);
        else if (a.element_type == gguf::ValueType::UINT64) j.value(static_cast<uint64_t>(a.ints[i]));
        else j.value(a.ints[i]);
    }
    j.end_array();
}

void write_value(JsonWriter& j, const gguf::Value& v, size_t array_limit) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, gguf::Array>) {
                if (x.size() > array_limit) {
                    j.begin_object().key("type").value(std::string(gguf::value_type_name(x.element_type)));
                    j.key("length").value(static_cast<uint64_t>(x.size())).key("first");
                    write_array(j, x, array_limit);
                    j.end_object();
                } else {
                    write_array(j, x, array_limit);
                }
            } else if constexpr (std::is_same_v<T, std::string>) {
                j.value(x);
            } else {
                j.value(x);
            }
        },
        v.data);
}

}  // namespace

int cmd_inspect(const std::vector<std::string>& argv) {
    const Args args("inspect", argv,
                    {{"model", true, "model name in the model directory, or a path (default: the default model)"},
                     {"model-dir", true, "model directory"},
                     {"full", false, "print arrays (vocabularies) in full instead of their first 8 entries"},
                     {"help", false, "show this help"}});
    if (args.has("help")) {
        std::fputs(args.help().c_str(), stdout);
        return 0;
    }
    const auto dir = args.has("model-dir") ? std::filesystem::path(*args.get("model-dir")) : default_model_dir();
    const auto file = gguf::GgufFile::open(resolve_model(args.get_or("model", ""), dir));
    const size_t limit = args.has("full") ? SIZE_MAX : 8;
    JsonWriter j;
    j.begin_object();
    j.key("path").value(file.path().string());
    j.key("version").value(static_cast<int64_t>(file.version()));
    j.key("file_size").value(file.file_size());
    j.key("alignment").value(file.alignment());
    j.key("metadata").begin_object();
    for (const auto& kv : file.metadata()) {
        j.key(kv.key);
        write_value(j, kv.value, limit);
    }
    j.end_object();
    std::map<std::string, int64_t> types;
    int64_t parameters = 0;
    j.key("tensors").begin_array();
    for (const auto& t : file.tensors()) {
        j.begin_object().key("name").value(t.name);
        j.key("type").value(std::string(tensor_type_name(t.type)));
        j.key("shape").array(t.ne);
        j.key("offset").value(t.data_offset).key("bytes").value(t.n_bytes).end_object();
        ++types[std::string(tensor_type_name(t.type))];
        parameters += t.n_elements();
    }
    j.end_array();
    j.key("summary").begin_object();
    j.key("architecture").value(file.get_string("general.architecture").value_or(""));
    j.key("parameters").value(parameters);
    j.key("tensor_count").value(static_cast<int64_t>(file.tensors().size()));
    j.key("tensor_types").begin_object();
    for (const auto& [name, count] : types) j.key(name).value(count);
    j.end_object().end_object().end_object();
    std::printf("%s\n", j.str().c_str());
    return 0;
}

}  // namespace enclave::cli
