// ChatTemplate: turns a conversation into the prompt text a model was trained on.
//
// Contract
// - detect() chooses a known template family from the file's tokenizer.chat_template (Jinja source) by the
//   same markers, in the same order, as llama.cpp's llm_chat_detect_template (a source that is exactly a
//   template name selects that template, as there); it throws InvalidArgument naming the problem when the
//   source matches none of the families implemented here. from_name() is the explicit override
//   (llama.cpp's builtin names, plus "deepseek-r1" for "deepseek3") and throws InvalidArgument listing the
//   known names for any other.
// - apply() renders exactly what llama.cpp's llama_chat_apply_template renders for that family (compared
//   against goldens), including add_generation_prompt's assistant header where the family has one (llama.cpp
//   ignores it for the llama2 and mistral families, and so does this).
// - Like llama.cpp's builtin rendering, deepseek3 (DeepSeek-R1 distills) keeps earlier assistant turns'
//   <think>...</think> text; the model's own Jinja template strips it. Callers that store reasoning apart
//   (the chat UI does) should pass the answer only.
// - Immutable value type; apply() is const and thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace enclave {

struct ChatMessage {
    std::string role;  // "system", "user" or "assistant" (other roles render as each family does)
    std::string content;
};

enum class ChatTemplateKind {
    chatml, llama2, llama2_sys, llama2_sys_bos, llama2_sys_strip, mistral_v1, mistral_v3, mistral_v3_tekken,
    mistral_v7, mistral_v7_tekken, phi3, phi4, falcon3, zephyr, monarch, gemma, orion, openchat, vicuna,
    vicuna_orca, deepseek, deepseek2, deepseek3, command_r, llama3, chatglm3, chatglm4, glmedge, minicpm,
};

class ChatTemplate {
public:
    static ChatTemplate detect(std::string_view jinja_source);
    static ChatTemplate from_name(std::string_view name);
    static std::vector<std::string_view> known_names();

    ChatTemplateKind kind() const { return kind_; }
    std::string_view name() const;  // llama.cpp's builtin name
    std::string apply(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;

private:
    explicit ChatTemplate(ChatTemplateKind kind) : kind_(kind) {}
    ChatTemplateKind kind_;
};

}  // namespace enclave
