// Chat templates against llama.cpp: every builtin rendering in tests/golden/chat_templates.json, template
// detection from each golden model's tokenizer.chat_template, and the error paths.
#include <filesystem>
#include <string>
#include <vector>

#include "check.h"
#include "core/common/error.h"
#include "core/gguf/gguf_file.h"
#include "core/tokenizer/chat_template.h"
#include "json_reader.h"

using namespace enclave;
using enclave_check::Json;

namespace {

const std::string k_golden = ENCLAVE_GOLDEN_DIR;

const Json& golden() {
    static const Json doc = enclave_check::read_json_file(k_golden + "/chat_templates.json");
    return doc;
}

std::vector<ChatMessage> conversation(size_t i) {
    std::vector<ChatMessage> out;
    for (const Json& m : golden()["conversations"][i].items) out.push_back({m["role"].str, m["content"].str});
    return out;
}

bool render_matches(const ChatTemplate& t, const Json& r, const std::string& what) {
    const std::string got = t.apply(conversation(static_cast<size_t>(r["conversation"].as_int())),
                                    r["add_generation_prompt"].b);
    const std::string& want = r["text"].str;
    if (got == want) return true;
    std::fprintf(stderr, "%s, conversation %lld, add_generation_prompt=%d:\n--- llama.cpp\n%s\n--- enclave\n%s\n---\n",
                 what.c_str(), static_cast<long long>(r["conversation"].as_int()), r["add_generation_prompt"].b,
                 want.c_str(), got.c_str());
    return false;
}

}  // namespace

ENCLAVE_TEST(builtin_renders_match_llama_cpp) {
    size_t bad = 0, n = 0;
    for (const Json& r : golden()["renders"].items) {
        ++n;
        const ChatTemplate t = ChatTemplate::from_name(r["template"].str);
        CHECK_EQ(std::string(t.name()), r["template"].str);
        if (!render_matches(t, r, r["template"].str)) ++bad;
    }
    CHECK(n >= 100);
    CHECK_MSG(bad == 0, std::to_string(bad) + " of " + std::to_string(n) + " renders differ");
}

ENCLAVE_TEST(detection_from_model_templates_matches_llama_cpp) {
    size_t n_detected = 0;
    for (const Json& m : golden()["models"].items) {
        const std::string& model = m["model"].str;
        if (m["detected"].kind == Json::Kind::null) {
            if (m.has("chat_template") && m["chat_template"].kind == Json::Kind::string)
                CHECK_THROWS_WITH(ChatTemplate::detect(m["chat_template"].str), InvalidArgument, "template");
            continue;
        }
        const std::string& source = m["chat_template"].str;
        if (model != "default") {  // the stored template is the one in the file
            const auto file = gguf::GgufFile::open(k_golden + "/" + model);
            CHECK_EQ(file.get_string("tokenizer.chat_template").value_or(""), source);
        }
        const ChatTemplate t = ChatTemplate::detect(source);
        CHECK_EQ(std::string(t.name()), m["detected"].str);
        for (const Json& r : m["renders"].items) CHECK(render_matches(t, r, model));
        ++n_detected;
    }
    CHECK(n_detected >= 5);
}

ENCLAVE_TEST(every_builtin_name_is_known_to_llama_cpp) {
    const Json& builtins = golden()["builtin_templates"];
    for (const std::string_view name : ChatTemplate::known_names()) {
        if (name == "deepseek-r1") continue;  // our alias of deepseek3
        bool found = false;
        for (const Json& b : builtins.items) found = found || b.str == name;
        CHECK_MSG(found, std::string(name) + " is not a llama.cpp builtin");
        // A source that is exactly a builtin name selects that template, as in llama.cpp.
        CHECK_EQ(std::string(ChatTemplate::detect(name).name()), std::string(name));
    }
}

ENCLAVE_TEST(names_and_errors) {
    CHECK(ChatTemplate::from_name("deepseek-r1").kind() == ChatTemplateKind::deepseek3);
    CHECK(ChatTemplate::from_name("chatml").kind() == ChatTemplateKind::chatml);
    CHECK_THROWS_WITH(ChatTemplate::from_name("no-such-template"), InvalidArgument, "chatml, llama2");
    CHECK_THROWS_WITH(ChatTemplate::from_name("no-such-template"), InvalidArgument, "no-such-template");
    CHECK_THROWS_WITH(ChatTemplate::detect("{{ messages }}"), InvalidArgument, "no known template family");
    // A family llama.cpp knows that Enclave does not render is refused, not mistaken for a later match.
    CHECK_THROWS_WITH(ChatTemplate::detect("<|im_start|> ... <end_of_utterance>"), InvalidArgument, "smolvlm");
}

ENCLAVE_TEST(detection_markers) {
    CHECK(ChatTemplate::detect("{{ '<|im_start|>' + role }}").kind() == ChatTemplateKind::chatml);
    CHECK(ChatTemplate::detect("<|start_header_id|>x<|end_header_id|>").kind() == ChatTemplateKind::llama3);
    CHECK(ChatTemplate::detect("<｜User｜>{{x}}<｜Assistant｜><｜end▁of▁sentence｜>").kind() ==
          ChatTemplateKind::deepseek3);
    CHECK(ChatTemplate::detect("[INST] x [SYSTEM_PROMPT]").kind() == ChatTemplateKind::mistral_v7);
    CHECK(ChatTemplate::detect("[INST] <<SYS>>").kind() == ChatTemplateKind::llama2_sys);
    CHECK(ChatTemplate::detect("<|user|> x <|endoftext|>").kind() == ChatTemplateKind::zephyr);
}

ENCLAVE_TEST(deepseek3_keeps_earlier_reasoning_like_llama_cpp) {
    // The model's own Jinja template would drop "<think>...</think>" from the earlier assistant turn;
    // llama.cpp's builtin keeps it, and so do we.
    const std::vector<ChatMessage> chat = {
        {"user", "2+2?"}, {"assistant", "<think>easy</think>4"}, {"user", "3+3?"}};
    CHECK_EQ(ChatTemplate::from_name("deepseek3").apply(chat, true),
             std::string("<｜User｜>2+2?<｜Assistant｜><think>easy</think>4<｜end▁of▁sentence｜><｜User｜>3+3?<｜Assistant｜>"));
}

ENCLAVE_TEST_MAIN()
