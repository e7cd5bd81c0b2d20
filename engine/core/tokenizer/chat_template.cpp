// Chat templates: llama.cpp's builtin renderings (src/llama-chat.cpp), selected by name or detected from
// a model's Jinja source by the same substring markers in the same order.
#include "core/tokenizer/chat_template.h"

#include <cctype>
#include <utility>

#include "core/common/error.h"

namespace enclave {

namespace {

using K = ChatTemplateKind;

constexpr std::pair<std::string_view, K> k_names[] = {
    {"chatml", K::chatml},
    {"llama2", K::llama2},
    {"llama2-sys", K::llama2_sys},
    {"llama2-sys-bos", K::llama2_sys_bos},
    {"llama2-sys-strip", K::llama2_sys_strip},
    {"mistral-v1", K::mistral_v1},
    {"mistral-v3", K::mistral_v3},
    {"mistral-v3-tekken", K::mistral_v3_tekken},
    {"mistral-v7", K::mistral_v7},
    {"mistral-v7-tekken", K::mistral_v7_tekken},
    {"phi3", K::phi3},
    {"phi4", K::phi4},
    {"falcon3", K::falcon3},
    {"zephyr", K::zephyr},
    {"monarch", K::monarch},
    {"gemma", K::gemma},
    {"orion", K::orion},
    {"openchat", K::openchat},
    {"vicuna", K::vicuna},
    {"vicuna-orca", K::vicuna_orca},
    {"deepseek", K::deepseek},
    {"deepseek2", K::deepseek2},
    {"deepseek3", K::deepseek3},
    {"command-r", K::command_r},
    {"llama3", K::llama3},
    {"chatglm3", K::chatglm3},
    {"chatglm4", K::chatglm4},
    {"glmedge", K::glmedge},
    {"minicpm", K::minicpm},
};

// llama.cpp's trim: C-locale isspace at both ends.
std::string trim(std::string_view s) {
    size_t b = 0, e = s.size();
    while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
    return std::string(s.substr(b, e - b));
}

}  // namespace

std::vector<std::string_view> ChatTemplate::known_names() {
    std::vector<std::string_view> out;
    for (const auto& [n, k] : k_names) out.push_back(n);
    out.push_back("deepseek-r1");
    return out;
}

ChatTemplate ChatTemplate::from_name(std::string_view name) {
    if (name == "deepseek-r1") return ChatTemplate(K::deepseek3);
    for (const auto& [n, k] : k_names)
        if (n == name) return ChatTemplate(k);
    std::string list;
    for (auto n : known_names()) list += (list.empty() ? "" : ", ") + std::string(n);
    throw InvalidArgument("unknown chat template '" + std::string(name) + "' (known: " + list + ")");
}

std::string_view ChatTemplate::name() const {
    for (const auto& [n, k] : k_names)
        if (k == kind_) return n;
    return "unknown";
}

ChatTemplate ChatTemplate::detect(std::string_view t) {
    for (const auto& [n, k] : k_names)  // a source that is a builtin name selects it, as in llama.cpp
        if (n == t) return ChatTemplate(k);
    auto has = [&](std::string_view s) { return t.find(s) != std::string_view::npos; };
    // The chain below keeps llama.cpp's order: earlier markers win. Families llama.cpp knows but Enclave
    // does not render end the chain with an error naming them, rather than falling to a later, wrong match.
    auto unsupported = [](const char* family) -> ChatTemplate {
        throw InvalidArgument(std::string("the model's chat template is of the '") + family +
                              "' family, which Enclave does not render; choose a template by name");
    };
    if (has("<|im_start|>")) {
        if (has("<|im_sep|>")) return ChatTemplate(K::phi4);
        if (has("<end_of_utterance>")) return unsupported("smolvlm");
        return ChatTemplate(K::chatml);
    }
    if (t.find("mistral") == 0 || has("[INST]")) {
        if (has("[SYSTEM_PROMPT]")) return ChatTemplate(K::mistral_v7);
        if (has("' [INST] ' + system_message") || has("[AVAILABLE_TOOLS]")) {
            if (has(" [INST]")) return ChatTemplate(K::mistral_v1);
            if (has("\"[INST]\"")) return ChatTemplate(K::mistral_v3_tekken);
            return ChatTemplate(K::mistral_v3);
        }
        if (has("content.strip()")) return ChatTemplate(K::llama2_sys_strip);
        if (has("bos_token + '[INST]")) return ChatTemplate(K::llama2_sys_bos);
        if (has("<<SYS>>")) return ChatTemplate(K::llama2_sys);
        return ChatTemplate(K::llama2);
    }
    if (has("<|assistant|>") && has("<|end|>")) return ChatTemplate(K::phi3);
    if (has("[gMASK]<sop>")) return ChatTemplate(K::chatglm4);
    if (has("<|assistant|>") && has("<|user|>")) {
        if (has("<|tool_declare|>")) return unsupported("exaone-moe");
        return ChatTemplate(has("</s>") ? K::falcon3 : K::glmedge);
    }
    if (has("<|{{ item['role'] }}|>") && has("<|begin_of_image|>")) return ChatTemplate(K::glmedge);
    if (has("<|user|>") && has("<|endoftext|>")) return ChatTemplate(K::zephyr);
    if (has("bos_token + message['role']")) return ChatTemplate(K::monarch);
    if (has("<start_of_turn>")) return ChatTemplate(K::gemma);
    if (has("'\\n\\nAssistant: ' + eos_token")) return ChatTemplate(K::orion);
    if (has("GPT4 Correct ")) return ChatTemplate(K::openchat);
    if (has("USER: ") && has("ASSISTANT: ")) return ChatTemplate(has("SYSTEM: ") ? K::vicuna_orca : K::vicuna);
    if (has("### Instruction:") && has("<|EOT|>")) return ChatTemplate(K::deepseek);
    if (has("<|START_OF_TURN_TOKEN|>") && has("<|USER_TOKEN|>")) return ChatTemplate(K::command_r);
    if (has("<|start_header_id|>") && has("<|end_header_id|>")) return ChatTemplate(K::llama3);
    if (has("[gMASK]sop")) return ChatTemplate(K::chatglm3);
    if (has("<用户>")) return ChatTemplate(K::minicpm);
    if (has("'Assistant: ' + message['content'] + eos_token")) return ChatTemplate(K::deepseek2);
    if (has("<｜Assistant｜>") && has("<｜User｜>") && has("<｜end▁of▁sentence｜>")) return ChatTemplate(K::deepseek3);
    throw InvalidArgument("the model's chat template matches no known template family; choose one by name");
}

std::string ChatTemplate::apply(const std::vector<ChatMessage>& chat, bool add_ass) const {
    std::string ss;
    switch (kind_) {
        case K::chatml:
            for (const auto& m : chat) ss += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
            if (add_ass) ss += "<|im_start|>assistant\n";
            break;
        case K::mistral_v7:
        case K::mistral_v7_tekken: {
            const std::string sp = kind_ == K::mistral_v7 ? " " : "";
            for (const auto& m : chat) {
                if (m.role == "system")
                    ss += "[SYSTEM_PROMPT]" + sp + m.content + "[/SYSTEM_PROMPT]";
                else if (m.role == "user")
                    ss += "[INST]" + sp + m.content + "[/INST]";
                else
                    ss += sp + m.content + "</s>";
            }
            break;
        }
        case K::mistral_v1:
        case K::mistral_v3:
        case K::mistral_v3_tekken: {
            const std::string leading = kind_ == K::mistral_v1 ? " " : "";
            const std::string trailing = kind_ == K::mistral_v3_tekken ? "" : " ";
            const bool trim_assistant = kind_ == K::mistral_v3;
            bool inside_turn = false;
            for (const auto& m : chat) {
                if (!inside_turn) {
                    ss += leading + "[INST]" + trailing;
                    inside_turn = true;
                }
                if (m.role == "system") {
                    ss += m.content + "\n\n";
                } else if (m.role == "user") {
                    ss += m.content + leading + "[/INST]";
                } else {
                    ss += trailing + (trim_assistant ? trim(m.content) : m.content) + "</s>";
                    inside_turn = false;
                }
            }
            break;
        }
        case K::llama2:
        case K::llama2_sys:
        case K::llama2_sys_bos:
        case K::llama2_sys_strip: {
            const bool system_supported = kind_ != K::llama2;
            const bool bos_inside = kind_ == K::llama2_sys_bos;
            const bool strip = kind_ == K::llama2_sys_strip;
            bool inside_turn = true;  // the first [INST] comes without BOS
            ss += "[INST] ";
            for (const auto& m : chat) {
                const std::string content = strip ? trim(m.content) : m.content;
                if (!inside_turn) {
                    inside_turn = true;
                    ss += bos_inside ? "<s>[INST] " : "[INST] ";
                }
                if (m.role == "system") {
                    ss += system_supported ? "<<SYS>>\n" + content + "\n<</SYS>>\n\n" : content + "\n";
                } else if (m.role == "user") {
                    ss += content + " [/INST]";
                } else {
                    ss += content + "</s>";
                    inside_turn = false;
                }
            }
            break;
        }
        case K::phi3:
            for (const auto& m : chat) ss += "<|" + m.role + "|>\n" + m.content + "<|end|>\n";
            if (add_ass) ss += "<|assistant|>\n";
            break;
        case K::phi4:
            for (const auto& m : chat) ss += "<|im_start|>" + m.role + "<|im_sep|>" + m.content + "<|im_end|>";
            if (add_ass) ss += "<|im_start|>assistant<|im_sep|>";
            break;
        case K::falcon3:
            for (const auto& m : chat) ss += "<|" + m.role + "|>\n" + m.content + "\n";
            if (add_ass) ss += "<|assistant|>\n";
            break;
        case K::zephyr:
            for (const auto& m : chat) ss += "<|" + m.role + "|>\n" + m.content + "<|endoftext|>\n";
            if (add_ass) ss += "<|assistant|>\n";
            break;
        case K::monarch:
            for (size_t i = 0; i < chat.size(); ++i)
                ss += (i == 0 ? "" : "<s>") + chat[i].role + "\n" + chat[i].content + "</s>\n";
            if (add_ass) ss += "<s>assistant\n";
            break;
        case K::gemma: {
            std::string system_prompt;  // gemma has no system turn: it is merged into the next user turn
            for (const auto& m : chat) {
                if (m.role == "system") {
                    system_prompt += trim(m.content);
                    continue;
                }
                const std::string role = m.role == "assistant" ? "model" : m.role;
                ss += "<start_of_turn>" + role + "\n";
                if (!system_prompt.empty() && role != "model") {
                    ss += system_prompt + "\n\n";
                    system_prompt.clear();
                }
                ss += trim(m.content) + "<end_of_turn>\n";
            }
            if (add_ass) ss += "<start_of_turn>model\n";
            break;
        }
        case K::orion: {
            std::string system_prompt;
            for (const auto& m : chat) {
                if (m.role == "system") {
                    system_prompt += m.content;
                } else if (m.role == "user") {
                    ss += "Human: ";
                    if (!system_prompt.empty()) {
                        ss += system_prompt + "\n\n";
                        system_prompt.clear();
                    }
                    ss += m.content + "\n\nAssistant: </s>";
                } else {
                    ss += m.content + "</s>";
                }
            }
            break;
        }
        case K::openchat:
            for (const auto& m : chat) {
                if (m.role == "system") {
                    ss += m.content + "<|end_of_turn|>";
                } else {
                    std::string role = m.role;
                    if (!role.empty()) role[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(role[0])));
                    ss += "GPT4 Correct " + role + ": " + m.content + "<|end_of_turn|>";
                }
            }
            if (add_ass) ss += "GPT4 Correct Assistant:";
            break;
        case K::vicuna:
        case K::vicuna_orca:
            for (const auto& m : chat) {
                if (m.role == "system")
                    ss += kind_ == K::vicuna_orca ? "SYSTEM: " + m.content + "\n" : m.content + "\n\n";
                else if (m.role == "user")
                    ss += "USER: " + m.content + "\n";
                else if (m.role == "assistant")
                    ss += "ASSISTANT: " + m.content + "</s>\n";
            }
            if (add_ass) ss += "ASSISTANT:";
            break;
        case K::deepseek:
            for (const auto& m : chat) {
                if (m.role == "system")
                    ss += m.content;
                else if (m.role == "user")
                    ss += "### Instruction:\n" + m.content + "\n";
                else if (m.role == "assistant")
                    ss += "### Response:\n" + m.content + "\n<|EOT|>\n";
            }
            if (add_ass) ss += "### Response:\n";
            break;
        case K::command_r:
            for (const auto& m : chat) {
                if (m.role == "system")
                    ss += "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>" + trim(m.content) + "<|END_OF_TURN_TOKEN|>";
                else if (m.role == "user")
                    ss += "<|START_OF_TURN_TOKEN|><|USER_TOKEN|>" + trim(m.content) + "<|END_OF_TURN_TOKEN|>";
                else if (m.role == "assistant")
                    ss += "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>" + trim(m.content) + "<|END_OF_TURN_TOKEN|>";
            }
            if (add_ass) ss += "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>";
            break;
        case K::llama3:
            for (const auto& m : chat)
                ss += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + trim(m.content) + "<|eot_id|>";
            if (add_ass) ss += "<|start_header_id|>assistant<|end_header_id|>\n\n";
            break;
        case K::chatglm3:
            ss += "[gMASK]sop";
            for (const auto& m : chat) ss += "<|" + m.role + "|>\n " + m.content;
            if (add_ass) ss += "<|assistant|>";
            break;
        case K::chatglm4:
            ss += "[gMASK]<sop>";
            for (const auto& m : chat) ss += "<|" + m.role + "|>\n" + m.content;
            if (add_ass) ss += "<|assistant|>\n";
            break;
        case K::glmedge:
            for (const auto& m : chat) ss += "<|" + m.role + "|>\n" + m.content;
            if (add_ass) ss += "<|assistant|>";
            break;
        case K::minicpm:
            for (const auto& m : chat) ss += m.role == "user" ? "<用户>" + trim(m.content) + "<AI>" : trim(m.content);
            break;
        case K::deepseek2:
            for (const auto& m : chat) {
                if (m.role == "system")
                    ss += m.content + "\n\n";
                else if (m.role == "user")
                    ss += "User: " + m.content + "\n\n";
                else if (m.role == "assistant")
                    ss += "Assistant: " + m.content + "<｜end▁of▁sentence｜>";
            }
            if (add_ass) ss += "Assistant:";
            break;
        case K::deepseek3:
            for (const auto& m : chat) {
                if (m.role == "system")
                    ss += m.content + "\n\n";
                else if (m.role == "user")
                    ss += "<｜User｜>" + m.content;
                else if (m.role == "assistant")
                    ss += "<｜Assistant｜>" + m.content + "<｜end▁of▁sentence｜>";
            }
            if (add_ass) ss += "<｜Assistant｜>";
            break;
    }
    return ss;
}

}  // namespace enclave
