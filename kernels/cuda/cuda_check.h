// Error checking for the CUDA launchers: every runtime call and every launch is checked, and a failure
// becomes a kernels::Status naming the call, the file and the line (launchers never throw or abort).
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "enclave/kernels/status.h"

namespace enclave::kernels::cuda_detail {

inline Status cuda_status(cudaError_t err, const char* what, const char* file, int line) {
    if (err == cudaSuccess) return Status::ok();
    return Status::device_error(std::string(what) + " failed at " + file + ":" + std::to_string(line) + ": " +
                                cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

}  // namespace enclave::kernels::cuda_detail

// Returns a device_error Status from the enclosing launcher when `call` fails.
#define ENCLAVE_CUDA_CHECK(call)                                                                               \
    do {                                                                                                       \
        const cudaError_t enclave_cuda_err_ = (call);                                                          \
        if (enclave_cuda_err_ != cudaSuccess)                                                                  \
            return ::enclave::kernels::cuda_detail::cuda_status(enclave_cuda_err_, #call, __FILE__, __LINE__); \
    } while (0)

// After a <<<...>>> launch: a bad configuration is reported at once (no synchronisation; faults inside the
// kernel surface at the backend's next synchronising call).
#define ENCLAVE_CUDA_CHECK_LAUNCH(kernel_name)                                                                         \
    do {                                                                                                               \
        const cudaError_t enclave_cuda_err_ = cudaGetLastError();                                                      \
        if (enclave_cuda_err_ != cudaSuccess)                                                                          \
            return ::enclave::kernels::cuda_detail::cuda_status(enclave_cuda_err_, "launch of " kernel_name, __FILE__, \
                                                                __LINE__);                                             \
    } while (0)
