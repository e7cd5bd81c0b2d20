// ChatTemplate: turns a conversation into the prompt text a model was trained on.
//
// Contract
// - detect() chooses a known template family from the file's tokenizer.chat_template (Jinja source) by the
//   same markers llama.cpp's llm_chat_detect_template uses, and throws InvalidArgument naming the problem
//   when the source matches none; from_name() is the explicit override ("chatml", "llama3",
//   "deepseek-r1"/"deepseek3", ...) and throws InvalidArgument listing the known names for any other.
// - apply() renders exactly what llama.cpp's llama_chat_apply_template renders for that family
//   (compared against goldens), including add_generation_prompt's assistant header. A DeepSeek-R1 template
//   drops the <think>...</think> block from earlier assistant turns as the model's own template does.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace enclave {

struct ChatMessage {
    std::string role;  // "system", "user" or "assistant"
    std::string content;
};

enum class ChatTemplateKind { chatml, llama3, llama2, deepseek_r1, zephyr, mistral_v7 };

class ChatTemplate {
public:
    static ChatTemplate detect(std::string_view jinja_source);
    static ChatTemplate from_name(std::string_view name);
    static std::vector<std::string_view> known_names();

    ChatTemplateKind kind() const { return kind_; }
    std::string_view name() const;
    std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

private:
    explicit ChatTemplate(ChatTemplateKind kind) : kind_(kind) {}
    ChatTemplateKind kind_;
};

}  // namespace enclave
