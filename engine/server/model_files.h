// The model directory as the Models API shows it: every .gguf file with what an admin needs to decide
// whether to load it (architecture, parameters, tensor types, trained context, size, memory estimate).
//
// Contract: list_model_files() never throws for a bad file: a file it cannot read gets `error` set (the
// reader's message, naming the field and offset) and the rest left empty. Only an unreadable directory
// throws (Error naming it). The estimate is the tensors' bytes plus an f16 KV cache of `context_tokens`
// (0: min(4096, trained)) plus 64 MiB of working memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace enclave::server {

struct ModelFileInfo {
    std::string file;                 // name inside the directory
    uint64_t size_bytes = 0;
    std::string architecture;
    int64_t parameters = 0;
    std::vector<std::string> tensor_types;  // "q4_1 x 84", most common first
    int64_t context_tokens = 0;       // trained
    uint64_t estimated_memory_bytes = 0;
    std::string error;
};

std::vector<ModelFileInfo> list_model_files(const std::filesystem::path& dir, int64_t context_tokens = 0);

// A load request's file must be a plain name inside the directory: no separators, no "..", ends .gguf
// (appended when missing). InvalidArgument otherwise or when it does not exist.
std::filesystem::path model_file_in(const std::filesystem::path& dir, const std::string& file);

}  // namespace enclave::server
