// Where models live: the engine's model directory and the default model's file name.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace enclave {

inline constexpr std::string_view default_model_file = "SmolLM2-135M-Instruct.Q4_1.gguf";

// $ENCLAVE_MODEL_DIR, else $XDG_DATA_HOME/enclave/models, else ~/.local/share/enclave/models.
std::filesystem::path default_model_dir();

// A path (contains '/' or names an existing file) is taken as it is; a bare name is looked up in
// model_dir, with ".gguf" appended when missing; empty means the default model. Throws InvalidArgument
// naming what was looked for and where when nothing is found.
std::filesystem::path resolve_model(const std::string& name_or_path, const std::filesystem::path& model_dir);

}  // namespace enclave
