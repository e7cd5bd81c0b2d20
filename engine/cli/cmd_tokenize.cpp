#include <cstdio>
#include <fstream>
#include <iterator>

#include "args.h"
#include "commands.h"
#include "core/gguf/gguf_file.h"
#include "core/model/model_paths.h"
#include "core/tokenizer/tokenizer.h"
#include "json_writer.h"

namespace enclave::cli {

int cmd_tokenize(const std::vector<std::string>& argv) {
    const Args args("tokenize", argv,
                    {{"model", true, "model name in the model directory, or a path (default: the default model)"},
                     {"model-dir", true, "model directory"},
                     {"text", true, "the text to tokenize"},
                     {"text-file", true, "read the text from a file (bytes as they are)"},
                     {"no-add-special", false, "do not add BOS/EOS even when the model asks for them"},
                     {"no-parse-special", false, "treat special-token text as plain text"},
                     {"pieces", false, "also print each token's bytes"},
                     {"help", false, "show this help"}});
    if (args.has("help")) {
        std::fputs(args.help().c_str(), stdout);
        return 0;
    }
    std::string text;
    if (const auto f = args.get("text-file")) {
        std::ifstream in(*f, std::ios::binary);
        if (!in) throw InvalidArgument("cannot read --text-file " + *f);
        text.assign(std::istreambuf_iterator<char>(in), {});
    } else if (const auto t = args.get("text")) {
        text = *t;
    } else {
        throw UsageError("needs --text or --text-file");
    }
    const auto dir = args.has("model-dir") ? std::filesystem::path(*args.get("model-dir")) : default_model_dir();
    const auto file = gguf::GgufFile::open(resolve_model(args.get_or("model", ""), dir));
    const auto tok = Tokenizer::from_gguf(file);
    const auto ids = tok->encode(text, !args.has("no-add-special"), !args.has("no-parse-special"));
    JsonWriter j;
    j.begin_object().key("ids").array(ids);
    if (args.has("pieces")) {
        j.key("pieces").begin_array();
        for (const auto id : ids) j.value(tok->token_to_piece(id, true));
        j.end_array();
    }
    j.end_object();
    std::printf("%s\n", j.str().c_str());
    return 0;
}

}  // namespace enclave::cli
