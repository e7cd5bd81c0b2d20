#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>

#include "args.h"
#include "commands.h"
#include "core/runtime/generator.h"
#include "core/tokenizer/chat_template.h"
#include "json_writer.h"
#include "loaded_model.h"

namespace enclave::cli {
namespace {

SamplingParams sampling_from_args(const Args& args) {
    SamplingParams p;
    p.temperature = static_cast<float>(args.get_double("temperature", p.temperature));
    p.top_k = static_cast<int32_t>(args.get_int("top-k", p.top_k, INT32_MIN, INT32_MAX));
    p.top_p = static_cast<float>(args.get_double("top-p", p.top_p));
    p.min_p = static_cast<float>(args.get_double("min-p", p.min_p));
    p.repeat_penalty = static_cast<float>(args.get_double("repeat-penalty", p.repeat_penalty));
    p.repeat_last_n = static_cast<int32_t>(args.get_int("repeat-last-n", p.repeat_last_n, INT32_MIN, INT32_MAX));
    p.frequency_penalty = static_cast<float>(args.get_double("frequency-penalty", p.frequency_penalty));
    p.presence_penalty = static_cast<float>(args.get_double("presence-penalty", p.presence_penalty));
    p.seed = static_cast<uint64_t>(args.get_int("seed", static_cast<int64_t>(p.seed), 0, INT64_MAX));
    p.max_tokens = static_cast<int32_t>(args.get_int("max-tokens", p.max_tokens, INT32_MIN, INT32_MAX));
    p.stop = args.get_all("stop");
    p.validate();
    return p;
}

std::string read_all(const std::string& path) {
    if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InvalidArgument("cannot read --prompt-file " + path);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

ChatTemplate template_for(const Args& args, const LoadedModel& m) {
    return chat_template_for(*m.model, args.get_or("template", ""));
}

void print_timings(const GenerationResult& r, size_t prompt_tokens) {
    const double gen = static_cast<double>(r.generated.size());
    std::fprintf(stderr, "[%zu prompt tokens in %.1f ms (%.1f t/s); %zu generated in %.1f ms (%.1f t/s); finish: %s]\n",
                 prompt_tokens, r.prefill_seconds * 1e3, static_cast<double>(prompt_tokens) / std::max(r.prefill_seconds, 1e-9),
                 r.generated.size(), r.decode_seconds * 1e3, gen / std::max(r.decode_seconds, 1e-9),
                 std::string(finish_reason_name(r.finish)).c_str());
}

int interactive_chat(const Args& args, LoadedModel& m, const SamplingParams& params) {
    const ChatTemplate tmpl = template_for(args, m);
    Generator gen(*m.model, *m.tokenizer, *m.cache);
    std::vector<ChatMessage> messages;
    if (const auto sys = args.get("system")) messages.push_back({"system", *sys});
    std::fprintf(stderr, "Chatting with %s (template %s). An empty line or end of input quits.\n",
                 m.model->config().name.c_str(), std::string(tmpl.name()).c_str());
    std::string line;
    for (;;) {
        std::fputs("> ", stderr);
        if (!std::getline(std::cin, line) || line.empty()) break;
        messages.push_back({"user", line});
        const std::string prompt = tmpl.apply(messages, true);
        const auto ids = m.tokenizer->encode(prompt, true, true);
        const auto r = gen.generate(ids, params, [](std::string_view t) {
            std::fwrite(t.data(), 1, t.size(), stdout);
            std::fflush(stdout);
            return true;
        });
        std::fputs("\n", stdout);
        std::fflush(stdout);
        if (args.has("verbose")) print_timings(r, ids.size());
        messages.push_back({"assistant", r.text});
    }
    return 0;
}

}  // namespace

int cmd_run(const std::vector<std::string>& argv) {
    const Args args("run", argv,
                    {ENCLAVE_MODEL_FLAGS,
                     {"prompt", true, "the prompt text"},
                     {"prompt-file", true, "read the prompt from a file ('-': standard input)"},
                     {"chat", false, "apply the model's chat template; without a prompt, chat interactively"},
                     {"system", true, "system message for --chat"},
                     {"template", true, "chat template override (chatml, llama3, deepseek3, ...)"},
                     {"max-tokens", true, "tokens to generate at most (default 256)"},
                     {"temperature", true, "0 is greedy (default 0.8)"},
                     {"top-k", true, "keep the k most likely tokens, 0 off (default 40)"},
                     {"top-p", true, "nucleus sampling threshold, 1 off (default 0.95)"},
                     {"min-p", true, "minimum probability relative to the best, 0 off (default 0.05)"},
                     {"repeat-penalty", true, "1 off (default 1)"},
                     {"repeat-last-n", true, "tokens the penalties look back over (default 64)"},
                     {"frequency-penalty", true, "-2..2 (default 0)"},
                     {"presence-penalty", true, "-2..2 (default 0)"},
                     {"seed", true, "random seed"},
                     {"stop", true, "stop string (repeatable)"},
                     {"batch", true, "prefill chunk in tokens (default 512)"},
                     {"json", false, "print prompt ids, generated ids and text as JSON"},
                     {"verbose", false, "print timings to stderr"},
                     {"help", false, "show this help"}});
    if (args.has("help")) {
        std::fputs(args.help().c_str(), stdout);
        return 0;
    }
    const SamplingParams params = sampling_from_args(args);
    std::optional<std::string> prompt = args.get("prompt");
    if (const auto f = args.get("prompt-file")) prompt = read_all(*f);
    if (!prompt && !args.has("chat")) throw UsageError("needs --prompt, --prompt-file or --chat");
    const int64_t n_batch = args.get_int("batch", 512, 1, 1 << 16);

    LoadedModel m = load_model_from_args(args, 0, true);
    if (!prompt) return interactive_chat(args, m, params);

    std::string text = *prompt;
    if (args.has("chat")) {
        std::vector<ChatMessage> messages;
        if (const auto sys = args.get("system")) messages.push_back({"system", *sys});
        messages.push_back({"user", *prompt});
        text = template_for(args, m).apply(messages, true);
    }
    const auto ids = m.tokenizer->encode(text, true, args.has("chat"));
    Generator gen(*m.model, *m.tokenizer, *m.cache);
    const bool json = args.has("json");
    const auto r = gen.generate(ids, params, [&](std::string_view t) {
        if (!json) {
            std::fwrite(t.data(), 1, t.size(), stdout);
            std::fflush(stdout);
        }
        return true;
    }, n_batch);
    if (json) {
        JsonWriter j;
        j.begin_object().key("model").value(m.model->file().path().string());
        j.key("prompt_ids").array(ids).key("ids").array(r.generated).key("text").value(r.text);
        j.key("finish_reason").value(finish_reason_name(r.finish));
        j.key("timings").begin_object().key("load_ms").value(m.load_seconds * 1e3);
        j.key("prefill_ms").value(r.prefill_seconds * 1e3).key("decode_ms").value(r.decode_seconds * 1e3).end_object();
        j.end_object();
        std::printf("%s\n", j.str().c_str());
    } else {
        std::fputs("\n", stdout);
        if (args.has("verbose")) print_timings(r, ids.size());
    }
    return 0;
}

}  // namespace enclave::cli
