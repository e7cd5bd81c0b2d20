// enclave-engine as a user runs it: a real process, its JSON output and its exit codes.
// Usage: tst_cli ENGINE_EXE GOLDEN_DIR. Cases that need the default model skip without ENCLAVE_DEFAULT_MODEL.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "check.h"
#include "json_reader.h"

namespace {

std::string g_engine, g_golden;

struct Result {
    int exit_code = -1;
    std::string out;  // standard output
    std::string err;  // standard error
};

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

Result run_engine(const std::vector<std::string>& args) {
    const auto err_path = std::filesystem::temp_directory_path() / ("enclave_tst_cli_" + std::to_string(getpid()) + ".err");
    std::string cmd = quote(g_engine);
    for (const auto& a : args) {
        cmd += ' ';
        cmd += quote(a);
    }
    cmd += " 2>";
    cmd += quote(err_path.string());
    cmd += " </dev/null";
    Result r;
    FILE* p = popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int status = pclose(p);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::ifstream e(err_path);
    r.err.assign(std::istreambuf_iterator<char>(e), {});
    std::filesystem::remove(err_path);
    return r;
}

const char* default_model() {
    const char* m = std::getenv("ENCLAVE_DEFAULT_MODEL");
    return m && std::filesystem::exists(m) ? m : nullptr;
}

}  // namespace

ENCLAVE_TEST(run_json_chat_gives_llama_cpp_greedy_tokens) {
    const char* model = default_model();
    if (!model) SKIP("ENCLAVE_DEFAULT_MODEL is not set or missing");
    const auto golden = enclave_check::read_json_file(g_golden + "/generate/smollm2.json");
    const auto& c = golden["cases"][0];  // a short single-turn question that ends at end-of-generation
    const auto want_prompt = c["prompt_ids"].as_vector<int32_t>();
    const auto want_ids = c["ids"].as_vector<int32_t>();
    const Result r = run_engine({"run", "--model", model, "--chat", "--prompt", c["messages"][0]["content"].str,
                                 "--temperature", "0", "--max-tokens", "64", "--json", "--threads", "2"});
    REQUIRE_MSG(r.exit_code == 0, "exit " + std::to_string(r.exit_code) + ": " + r.err);
    const auto out = enclave_check::JsonParser(r.out).parse();
    CHECK(out["prompt_ids"].as_vector<int32_t>() == want_prompt);  // template + tokenizer as llama.cpp's
    const auto ids = out["ids"].as_vector<int32_t>();
    REQUIRE(ids.size() >= want_ids.size());
    CHECK(std::vector<int32_t>(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(want_ids.size())) == want_ids);
    CHECK_EQ(out["finish_reason"].str, std::string("eos"));
    CHECK_MSG(out["text"].str.find("Paris") != std::string::npos, "text: " + out["text"].str);
}

ENCLAVE_TEST(tokenize_prints_llama_cpp_ids) {
    const char* model = default_model();
    if (!model) SKIP("ENCLAVE_DEFAULT_MODEL is not set or missing");
    // "Hello, world!" with add_special and parse_special (the CLI's defaults), from tokenize/smollm2.json.
    const auto golden = enclave_check::read_json_file(g_golden + "/tokenize/smollm2.json");
    std::vector<int32_t> want;
    for (const auto& c : golden["cases"].items)
        if (c["s"].as_int() == 1 && c["add_special"].b && c["parse_special"].b) want = c["ids"].as_vector<int32_t>();
    REQUIRE(!want.empty());
    const Result r = run_engine({"tokenize", "--model", model, "--text", "Hello, world!"});
    REQUIRE_MSG(r.exit_code == 0, r.err);
    CHECK(enclave_check::JsonParser(r.out).parse()["ids"].as_vector<int32_t>() == want);
}

ENCLAVE_TEST(bad_input_gets_a_clear_error_and_exit_code) {
    const Result unknown = run_engine({"run", "--prompt", "hi", "--no-such-flag"});
    CHECK_EQ(unknown.exit_code, 2);
    CHECK_MSG(unknown.err.find("unknown flag --no-such-flag") != std::string::npos, unknown.err);
    const Result missing = run_engine({"run", "--prompt", "hi", "--model", "/nonexistent/model.gguf"});
    CHECK_EQ(missing.exit_code, 2);
    CHECK_MSG(missing.err.find("/nonexistent/model.gguf") != std::string::npos, missing.err);
    const auto junk = std::filesystem::temp_directory_path() / ("enclave_tst_cli_junk_" + std::to_string(getpid()) + ".gguf");
    std::ofstream(junk) << "GGUF but not really a model file";
    const Result bad = run_engine({"inspect", "--model", junk.string()});
    std::filesystem::remove(junk);
    CHECK_EQ(bad.exit_code, 3);
    CHECK_MSG(bad.err.find("bad model file") != std::string::npos && bad.err.find(junk.string()) != std::string::npos,
              bad.err);
    const Result range = run_engine({"run", "--prompt", "hi", "--temperature", "-1"});
    CHECK_EQ(range.exit_code, 2);
    CHECK_MSG(range.err.find("temperature") != std::string::npos, range.err);
    const Result no_cmd = run_engine({"frobnicate"});
    CHECK_EQ(no_cmd.exit_code, 2);
}

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: tst_cli ENGINE_EXE GOLDEN_DIR\n");
        return 2;
    }
    g_engine = argv[1];
    g_golden = argv[2];
    char* no_args[] = {argv[0]};
    return enclave_check::run_all(1, no_args);
}
