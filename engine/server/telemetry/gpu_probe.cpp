#include "server/telemetry/gpu_probe.h"

#include <dlfcn.h>

namespace enclave::server {
namespace {

// The few NVML entry points used, declared here (C ABI, stable since NVML 10) so the build needs no
// NVIDIA headers or libraries.
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr nvmlReturn_t NVML_SUCCESS = 0;
struct nvmlMemory_t {
    unsigned long long total, free, used;
};
struct nvmlUtilization_t {
    unsigned int gpu, memory;
};
constexpr unsigned NVML_TEMPERATURE_GPU = 0;
constexpr unsigned NVML_CLOCK_SM = 1;

}  // namespace

struct GpuProbe::Nvml {
    void* lib = nullptr;
    nvmlReturn_t (*init)() = nullptr;
    nvmlReturn_t (*shutdown)() = nullptr;
    nvmlReturn_t (*count)(unsigned*) = nullptr;
    nvmlReturn_t (*handle)(unsigned, nvmlDevice_t*) = nullptr;
    nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned) = nullptr;
    nvmlReturn_t (*temperature)(nvmlDevice_t, unsigned, unsigned*) = nullptr;
    nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
    nvmlReturn_t (*utilization)(nvmlDevice_t, nvmlUtilization_t*) = nullptr;
    nvmlReturn_t (*power)(nvmlDevice_t, unsigned*) = nullptr;
    nvmlReturn_t (*clock)(nvmlDevice_t, unsigned, unsigned*) = nullptr;
    nvmlReturn_t (*pcie)(nvmlDevice_t, unsigned, unsigned*) = nullptr;  // optional: absent on old drivers

    template <class F>
    bool bind(F& f, const char* symbol) {
        f = reinterpret_cast<F>(dlsym(lib, symbol));
        return f != nullptr;
    }
};

GpuProbe::GpuProbe() {
    auto n = std::make_unique<Nvml>();
    n->lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!n->lib) {
        reason_ = "libnvidia-ml.so.1 not found (no NVIDIA driver): reporting CPU and memory only";
        return;
    }
    const bool bound = n->bind(n->init, "nvmlInit_v2") && n->bind(n->shutdown, "nvmlShutdown") &&
                       n->bind(n->count, "nvmlDeviceGetCount_v2") && n->bind(n->handle, "nvmlDeviceGetHandleByIndex_v2") &&
                       n->bind(n->name, "nvmlDeviceGetName") && n->bind(n->temperature, "nvmlDeviceGetTemperature") &&
                       n->bind(n->memory, "nvmlDeviceGetMemoryInfo") &&
                       n->bind(n->utilization, "nvmlDeviceGetUtilizationRates") &&
                       n->bind(n->power, "nvmlDeviceGetPowerUsage") && n->bind(n->clock, "nvmlDeviceGetClockInfo");
    if (bound) (void)n->bind(n->pcie, "nvmlDeviceGetPcieThroughput");  // optional
    if (!bound || n->init() != NVML_SUCCESS) {
        reason_ = bound ? "NVML did not initialise (driver not loaded?)" : "libnvidia-ml.so.1 lacks an expected symbol";
        dlclose(n->lib);
        return;
    }
    nvml_ = std::move(n);
}

GpuProbe::~GpuProbe() {
    if (nvml_) {
        nvml_->shutdown();
        dlclose(nvml_->lib);
    }
}

bool GpuProbe::available() const { return nvml_ != nullptr; }
const std::string& GpuProbe::unavailable_reason() const { return reason_; }

std::vector<GpuSample> GpuProbe::sample() const {
    std::vector<GpuSample> out;
    if (!nvml_) return out;
    unsigned count = 0;
    if (nvml_->count(&count) != NVML_SUCCESS) return out;
    for (unsigned i = 0; i < count; ++i) {
        nvmlDevice_t dev = nullptr;
        if (nvml_->handle(i, &dev) != NVML_SUCCESS) continue;
        GpuSample s;
        s.index = i;
        char name[96] = {};
        if (nvml_->name(dev, name, sizeof name) == NVML_SUCCESS) s.name = name;
        unsigned v = 0;
        if (nvml_->temperature(dev, NVML_TEMPERATURE_GPU, &v) == NVML_SUCCESS) s.temperature_celsius = v;
        nvmlMemory_t mem{};
        if (nvml_->memory(dev, &mem) == NVML_SUCCESS) {
            s.memory_used_bytes = static_cast<double>(mem.used);
            s.memory_total_bytes = static_cast<double>(mem.total);
        }
        nvmlUtilization_t util{};
        if (nvml_->utilization(dev, &util) == NVML_SUCCESS) s.utilization_ratio = util.gpu / 100.0;
        if (nvml_->power(dev, &v) == NVML_SUCCESS) s.power_watts = v / 1000.0;  // NVML reports milliwatts
        if (nvml_->clock(dev, NVML_CLOCK_SM, &v) == NVML_SUCCESS) s.sm_clock_hz = v * 1e6;  // MHz
        // NVML measures PCIe throughput over 20 ms and reports KB/s; counter 0 is TX, 1 is RX.
        if (nvml_->pcie && nvml_->pcie(dev, 0, &v) == NVML_SUCCESS) s.pcie_tx_bytes_per_second = v * 1024.0;
        if (nvml_->pcie && nvml_->pcie(dev, 1, &v) == NVML_SUCCESS) s.pcie_rx_bytes_per_second = v * 1024.0;
        out.push_back(std::move(s));
    }
    return out;
}

}  // namespace enclave::server
