// Replays the committed GGUF fuzz corpus (tests/fuzz/corpus/gguf) through the reader, from temporary
// files: every input must open or be rejected with ModelFormatError, never anything else. Files named
// valid_* must open. Runs in every build, so fuzzer findings stay fixed without clang or libFuzzer.
#include <cstdlib>

#include "../core/gguf/gguf_test_util.h"
#include "check.h"
#include "gguf_fuzz_check.h"

#ifndef ENCLAVE_GGUF_CORPUS_DIR
#error "ENCLAVE_GGUF_CORPUS_DIR must name the corpus directory"
#endif

namespace fs = std::filesystem;

ENCLAVE_TEST(corpus_opens_or_is_rejected) {
    const char* env = std::getenv("ENCLAVE_GGUF_CORPUS");  // to replay another directory, e.g. new findings
    const fs::path corpus = env ? env : ENCLAVE_GGUF_CORPUS_DIR;
    REQUIRE_MSG(fs::is_directory(corpus), corpus.string());
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(corpus))
        if (e.is_regular_file()) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    REQUIRE_MSG(files.size() >= 10, "corpus has only " + std::to_string(files.size()) + " files");

    gguf_test::TempDir dir;
    const fs::path input = dir.file("input.gguf");
    const fs::path copy = dir.file("copy.gguf");
    auto store = [&](const std::vector<uint8_t>& bytes) { return gguf_test::write_file(copy, bytes); };
    size_t opened = 0, rejected = 0;
    for (const fs::path& f : files) {
        gguf_test::write_file(input, gguf_test::read_file(f));
        const std::string name = f.filename().string();
        std::string outcome;
        try {
            gguf_fuzz::exercise_gguf(input, store);
            ++opened;
            outcome = "opened";
        } catch (const enclave::ModelFormatError& e) {
            ++rejected;
            outcome = e.what();
        } catch (const std::exception& e) {
            outcome = std::string("unexpected exception: ") + e.what();
            CHECK_MSG(false, name + ": " + outcome);
        } catch (...) {
            CHECK_MSG(false, name + ": non-standard exception");
        }
        if (name.rfind("valid_", 0) == 0) CHECK_MSG(outcome == "opened", name + ": " + outcome);
    }
    std::fprintf(stderr, "%zu corpus files: %zu opened, %zu rejected\n", files.size(), opened, rejected);
    CHECK(opened > 0);
    CHECK(rejected > 0);
}

ENCLAVE_TEST_MAIN()
