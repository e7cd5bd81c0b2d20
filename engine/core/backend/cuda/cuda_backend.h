// The CUDA backend: a Backend (backend.h) whose memory is device memory of one CUDA GPU and whose
// operations are the kernels of enclave/kernels/cuda_ops.h, enqueued on one stream the backend owns.
//
// Contract (in addition to backend.h's)
// - Memory comes from cudaMalloc only (never managed memory); allocate() throws ResourceExhausted naming
//   the size asked for and the device's free and total memory. Weights are copied to the device on load;
//   Q4_0, Q4_1 and Q8_0 matrices (rows of a multiple of 8 bytes) are repacked there into the split row layout
//   (cuda_ops.h: WeightLayout), same type and bytes per row, which every kernel reading them is told. Set
//   ENCLAVE_CUDA_SPLIT=0 to keep the file's layout.
// - Ops may be held back and fused with the next one (add + rms_norm + 8-bit quantization, consecutive
//   products of the same activations, swiglu + quantization); every other op, download() and synchronize()
//   run what is held first, so results are those of the ops in call order. ENCLAVE_CUDA_FUSE=0 turns it off.
// - f16 products of more than 8 tokens use cuBLAS when libcublas is installed (loaded at run time;
//   ENCLAVE_CUDA_CUBLAS=0 keeps the backend's own kernel). The norm or swiglu before such a product writes its
//   f16 input too (ENCLAVE_CUDA_F16_FUSE=0: a separate rounding), and two products of the same input and shape
//   whose weights and outputs lie in the same order run as one launch (K/V; ENCLAVE_CUDA_GEMM_PAIR=0: two).
//   Off by default: ENCLAVE_CUDA_GEMM_TUNE=1 (cuBLASLt, each shape's algorithm timed at its first product, which
//   synchronises once per new shape) and ENCLAVE_CUDA_F16_CACHE_MIB=N (quantized weights keep the f16 copy their
//   many-token products dequantize, up to N MiB of device memory).
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
