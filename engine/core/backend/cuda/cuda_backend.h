// The CUDA backend: a Backend (backend.h) whose memory is device memory of one CUDA GPU and whose
// operations are the kernels of enclave/kernels/cuda_ops.h, enqueued on one stream the backend owns.
//
// Contract (in addition to backend.h's)
// - Memory comes from cudaMalloc only (never managed memory); allocate() throws ResourceExhausted naming
//   the size asked for and the device's free and total memory. Weights are copied to the device on load.
// - Operations never synchronise with the host: upload() stages through pinned memory and returns at once;
//   download() and synchronize() wait for the stream. A step of Model::forward therefore runs without a
//   host round trip until its logits are downloaded.
// - Indices that only the device sees (token ids, cache slots, block tables) are checked by the kernels;
//   a bad one is skipped and reported by the next download() or synchronize() as InvalidArgument.
// - Shape and type errors throw InvalidArgument at the op, as the CPU backend does; a weight type without a
//   CUDA kernel throws InvalidArgument saying so (never computes garbage); CUDA failures throw Error with
//   the CUDA error's name and text.
// - DeviceBuffers it hands out may outlive the backend object (they keep its stream alive).
#pragma once

#include <memory>

#include "core/backend/backend.h"

namespace enclave {

// CUDA devices this process can use; 0 without a driver or a device. Never throws.
int cuda_device_count() noexcept;

// The CUDA backend on device `device` (0-based). Throws Error when the device cannot be used.
std::unique_ptr<Backend> make_cuda_backend(int device);

}  // namespace enclave
