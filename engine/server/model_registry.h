// ModelRegistry: the models a serve process has loaded, the names clients ask for, weighted routes
// between them, and hot swap.
//
// Contract
// - resolve(name) picks the EngineService for a request: a route name goes to one of its targets by
//   weight, a served name to its model, an empty name to the default (the first loaded, or the only
//   one). The caller keeps the returned shared_ptr for the whole request, so a model being swapped out or
//   unloaded finishes every request it accepted before it is freed (it drains). Unknown names throw
//   InvalidArgument naming the model and what is served.
// - load() reads a file from the model directory (or the path given at start-up) through the injected
//   loader, reporting progress, and serves it under `name`. A name already served or routed is refused.
// - swap(name, file) loads `file` beside the model served as `name`, then moves the name to it in one
//   step: new requests go to the new model, the old one drains and is unloaded. No request fails.
// - unload(name) stops new requests for `name` at once; the model drains and is freed. Routes that name it
//   are refused while they exist (delete or change them first).
// - Thread-safe. Draining models are freed by a reaper thread once their last request ended.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "server/engine_service.h"
#include "server/telemetry/metrics.h"

namespace enclave::server {

// stage: "reading", "loading", "warming", "serving", "draining", "unloaded"; fraction 0..1.
using LoadProgressFn = std::function<void(double fraction, const std::string& stage)>;

struct LoadRequest {
    std::string file;            // a name in the model directory, or (at start-up only) a path
    std::string name;            // served name; empty: the file name without .gguf
    int64_t context_tokens = 0;  // 0: the configured default
};

// Opens the file and returns a ready engine (the serve command supplies it: it knows backends and paths).
using ModelLoader = std::function<LoadedEngine(const LoadRequest&, const LoadProgressFn&)>;

struct RouteTarget {
    std::string model;
    uint32_t weight = 0;
};

struct Route {
    std::string name;
    std::vector<RouteTarget> targets;
};

struct ServedModel {
    std::string name;
    std::shared_ptr<EngineService> service;
    bool draining = false;
};

class ModelRegistry {
public:
    ModelRegistry(ModelLoader loader, SchedulerConfig scheduler, int64_t max_queued);
    ~ModelRegistry();
    ModelRegistry(const ModelRegistry&) = delete;
    ModelRegistry& operator=(const ModelRegistry&) = delete;

    std::shared_ptr<EngineService> load(const LoadRequest& request, const LoadProgressFn& progress = {});
    std::shared_ptr<EngineService> swap(const std::string& name, const LoadRequest& replacement,
                                        const LoadProgressFn& progress = {});
    void unload(const std::string& name);

    // `routed_to` (when not null) receives the served model a route picked, empty when no route was used.
    std::shared_ptr<EngineService> resolve(const std::string& name, std::string* routed_to = nullptr);

    void set_route(const Route& route);  // InvalidArgument: no targets, zero total weight, unknown target
    void delete_route(const std::string& name);
    std::vector<Route> routes() const;

    std::vector<ServedModel> models() const;  // serving first (load order), then draining
    std::string default_name() const;         // empty when nothing is loaded

    // The serving counters of every model (draining ones too) and of the front (refusals, route hits).
    std::vector<MetricsValues> metrics() const;
    FrontCounters front_counters() const;
    void count_rejected(const std::string& reason);

    // Stops every model (open requests end as cancelled) and the reaper.
    void stop();

private:
    void reap();
    std::shared_ptr<EngineService> start_service(const LoadRequest& request, const LoadProgressFn& progress);
    void check_name_free(const std::string& name) const;  // mutex_ held

    ModelLoader loader_;
    SchedulerConfig scheduler_;
    int64_t max_queued_;

    mutable std::mutex mutex_;
    std::vector<std::pair<std::string, std::shared_ptr<EngineService>>> serving_;  // load order
    std::vector<std::shared_ptr<EngineService>> draining_;
    std::vector<std::string> loading_;  // names being loaded (reserved)
    std::map<std::string, Route> routes_;
    FrontCounters front_;
    std::mt19937_64 rng_{std::random_device{}()};
    bool stopping_ = false;
    std::condition_variable reap_wake_;
    std::thread reaper_;
};

}  // namespace enclave::server
