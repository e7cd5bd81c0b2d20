// GpuProbe: reads NVIDIA GPUs through NVML, loaded at run time with dlopen("libnvidia-ml.so.1"), so the
// engine starts and serves on machines without a driver (then it reports no GPUs, and says why once).
//
// Contract: construct once; sample() is thread-safe (NVML is) and cheap enough for every /metrics scrape
// (a few microseconds a GPU). Values NVML cannot read on a GPU are left unset.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace enclave::server {

struct GpuSample {
    unsigned index = 0;
    std::string name;
    std::optional<double> temperature_celsius;
    std::optional<double> memory_used_bytes;
    std::optional<double> memory_total_bytes;
    std::optional<double> utilization_ratio;  // 0..1, GPU busy share over NVML's last sample period
    std::optional<double> power_watts;
    std::optional<double> sm_clock_hz;
    std::optional<double> pcie_tx_bytes_per_second;
    std::optional<double> pcie_rx_bytes_per_second;
};

class GpuProbe {
public:
    GpuProbe();
    ~GpuProbe();
    GpuProbe(const GpuProbe&) = delete;
    GpuProbe& operator=(const GpuProbe&) = delete;

    bool available() const;
    const std::string& unavailable_reason() const;  // why there are no GPUs ("libnvidia-ml.so.1 not found")
    std::vector<GpuSample> sample() const;

private:
    struct Nvml;
    std::unique_ptr<Nvml> nvml_;
    std::string reason_;
};

}  // namespace enclave::server
