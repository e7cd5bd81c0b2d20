// libFuzzer target of the GGUF reader (and, for inputs it accepts, the writer). Built with ENCLAVE_FUZZ=ON
// and clang; see run_gguf_fuzzer.sh. An input must either open or throw ModelFormatError; any other
// exception, a sanitizer report or a broken invariant (gguf_fuzz_check.h) is a finding.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "gguf_fuzz_check.h"

namespace {

// An in-memory file reopened through /proc/self/fd: GgufFile::open takes a path, and this keeps every
// iteration off the disk.
class MemFile {
public:
    explicit MemFile(const char* name) : fd_(::memfd_create(name, MFD_CLOEXEC)) {
        if (fd_ < 0) {
            std::perror("memfd_create");
            std::abort();
        }
        path_ = "/proc/self/fd/" + std::to_string(fd_);
    }
    const std::filesystem::path& store(const uint8_t* data, size_t size) {
        if (::ftruncate(fd_, 0) != 0 || (size && ::pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size))) {
            std::perror("memfd write");
            std::abort();
        }
        return path_;
    }

private:
    int fd_;
    std::filesystem::path path_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static MemFile input("gguf-input");
    static MemFile copy("gguf-round-trip");
    const auto& path = input.store(data, size);
    try {
        gguf_fuzz::exercise_gguf(
            path, [&](const std::vector<uint8_t>& bytes) { return copy.store(bytes.data(), bytes.size()); });
    } catch (const enclave::ModelFormatError&) {
        // the expected outcome for most inputs
    }
    return 0;
}
