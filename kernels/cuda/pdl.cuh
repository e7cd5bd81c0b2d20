// Programmatic dependent launch (sm_90): a kernel launched with it may start while the kernel before it in the
// stream is still running, and must call pdl_wait() before it reads anything that kernel wrote or writes
// anything it reads. Before the wait only data that no kernel of the step writes may be touched: the weights.
// pdl_trigger() lets the next (PDL-launched) kernel start once every block of this one has called it or ended;
// without a PDL-launched successor both are no-ops.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

namespace enclave::kernels::cuda_detail {

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// Asks L2 for [p, p + bytes) (p 16-byte aligned, bytes a multiple of 16) with one bulk copy-engine request.
__device__ __forceinline__ void prefetch_l2_bulk(const void* p, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
#endif
}

// Asks L2 for the 32-byte sectors of [p, p + bytes), spread over the warp's lanes (any alignment).
__device__ __forceinline__ void prefetch_l2_lanes(const void* p, uint32_t bytes, int lane) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (uint32_t off = static_cast<uint32_t>(lane) * 32; off < bytes; off += 32 * 32)
        asm volatile("prefetch.global.L2 [%0];" ::"l"(b + off));
}

// kernel<<<grid, block, smem, stream>>>(args...), with programmatic stream serialization when pdl.
template <class... P, class... A>
cudaError_t launch_maybe_pdl(bool pdl, void (*kernel)(P...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                             A&&... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = stream;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = pdl ? 1 : 0;
    return cudaLaunchKernelEx(&cfg, kernel, std::forward<A>(args)...);
}

}  // namespace enclave::kernels::cuda_detail
