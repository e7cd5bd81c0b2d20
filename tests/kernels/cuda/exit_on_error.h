// CK(call): for the device tools beside the tests (bench_gemm_shapes, probe_cublas_racecheck), which have no test
// framework to report to: a CUDA runtime or cuBLAS call whose status is not 0 prints the file, line, call and
// status and ends the program with status 1.
#pragma once

#include <cstdio>
#include <cstdlib>

#define CK(call)                                                                                               \
    do {                                                                                                       \
        const auto rc_ = (call);                                                                               \
        if (static_cast<int>(rc_) != 0) {                                                                      \
            std::fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #call, static_cast<int>(rc_)); \
            std::exit(1);                                                                                      \
        }                                                                                                      \
    } while (0)
