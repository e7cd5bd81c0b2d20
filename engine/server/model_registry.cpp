#include "server/model_registry.h"

#include <algorithm>

#include "core/common/error.h"

namespace enclave::server {
namespace {

std::string served_names(const std::vector<std::pair<std::string, std::shared_ptr<EngineService>>>& serving,
                         const std::map<std::string, Route>& routes) {
    std::string out;
    for (const auto& [name, s] : serving) out += (out.empty() ? "" : ", ") + name;
    for (const auto& [name, r] : routes) out += (out.empty() ? "" : ", ") + name + " (route)";
    return out.empty() ? "nothing" : out;
}

std::string name_for(const LoadRequest& r) {
    if (!r.name.empty()) return r.name;
    std::string stem = r.file;
    if (const auto slash = stem.rfind('/'); slash != std::string::npos) stem = stem.substr(slash + 1);
    if (stem.size() > 5 && stem.ends_with(".gguf")) stem.resize(stem.size() - 5);
    return stem;
}

void check_served_name(const std::string& name) {
    if (name.empty() || name.size() > 128) throw InvalidArgument("name: a served name needs 1 to 128 characters");
    for (const unsigned char c : name)
        if (c < 0x21 || c == 0x7f || c == '"' || c == '\\')
            throw InvalidArgument("name: '" + name + "' holds a space, quote, backslash or control character");
}

}  // namespace

ModelRegistry::ModelRegistry(ModelLoader loader, SchedulerConfig scheduler, int64_t max_queued)
    : loader_(std::move(loader)), scheduler_(scheduler), max_queued_(max_queued) {
    reaper_ = std::thread([this] { reap(); });
}

ModelRegistry::~ModelRegistry() { stop(); }

void ModelRegistry::check_name_free(const std::string& name) const {
    for (const auto& [n, s] : serving_)
        if (n == name) throw InvalidArgument("name: '" + name + "' is already served (swap it, or unload it first)");
    if (routes_.contains(name)) throw InvalidArgument("name: '" + name + "' is a route");
    if (std::find(loading_.begin(), loading_.end(), name) != loading_.end())
        throw InvalidArgument("name: '" + name + "' is being loaded");
}

std::shared_ptr<EngineService> ModelRegistry::start_service(const LoadRequest& request, const LoadProgressFn& progress) {
    const LoadProgressFn report = progress ? progress : [](double, const std::string&) {};
    report(0.0, "reading");
    LoadedEngine engine = loader_(request, report);
    engine.model_id = name_for(request);
    report(0.9, "warming");
    auto service = std::make_shared<EngineService>(std::move(engine), scheduler_, max_queued_);
    // A round trip through the new model's step loop before any client is sent to it.
    if (!service->health(std::chrono::seconds(60))) throw Error("model '" + service->model_id() + "' did not start");
    return service;
}

std::shared_ptr<EngineService> ModelRegistry::load(const LoadRequest& request, const LoadProgressFn& progress) {
    const std::string name = name_for(request);
    check_served_name(name);
    {
        std::lock_guard lock(mutex_);
        if (stopping_) throw Error("the engine is shutting down");
        check_name_free(name);
        loading_.push_back(name);
    }
    std::shared_ptr<EngineService> service;
    try {
        LoadRequest named = request;
        named.name = name;
        service = start_service(named, progress);
    } catch (...) {
        std::lock_guard lock(mutex_);
        std::erase(loading_, name);
        throw;
    }
    {
        std::lock_guard lock(mutex_);
        std::erase(loading_, name);
        serving_.emplace_back(name, service);
    }
    if (progress) progress(1.0, "serving");
    return service;
}

std::shared_ptr<EngineService> ModelRegistry::swap(const std::string& name, const LoadRequest& replacement,
                                                   const LoadProgressFn& progress) {
    {
        std::lock_guard lock(mutex_);
        const bool served = std::any_of(serving_.begin(), serving_.end(), [&](const auto& e) { return e.first == name; });
        if (!served) throw InvalidArgument("name: '" + name + "' is not served (load it instead); served: " +
                                           served_names(serving_, routes_));
    }
    LoadRequest named = replacement;
    named.name = name;
    // Loaded beside the old one: both hold memory until the old one has drained.
    std::shared_ptr<EngineService> fresh = start_service(named, progress);
    std::shared_ptr<EngineService> old;
    {
        std::lock_guard lock(mutex_);
        auto it = std::find_if(serving_.begin(), serving_.end(), [&](const auto& e) { return e.first == name; });
        if (it == serving_.end()) {
            serving_.emplace_back(name, fresh);  // unloaded meanwhile: the new one simply serves
        } else {
            old = std::exchange(it->second, fresh);
            draining_.push_back(old);
        }
    }
    reap_wake_.notify_all();
    if (progress) progress(1.0, "serving");
    return fresh;
}

void ModelRegistry::unload(const std::string& name) {
    {
        std::lock_guard lock(mutex_);
        auto it = std::find_if(serving_.begin(), serving_.end(), [&](const auto& e) { return e.first == name; });
        if (it == serving_.end())
            throw InvalidArgument("name: '" + name + "' is not served; served: " + served_names(serving_, routes_));
        for (const auto& [route, r] : routes_)
            for (const auto& t : r.targets)
                if (t.model == name)
                    throw InvalidArgument("name: route '" + route + "' sends requests to '" + name +
                                          "'; change or delete the route first");
        draining_.push_back(it->second);
        serving_.erase(it);
    }
    reap_wake_.notify_all();
}

std::shared_ptr<EngineService> ModelRegistry::resolve(const std::string& name, std::string* routed_to) {
    std::lock_guard lock(mutex_);
    if (routed_to) routed_to->clear();
    if (name.empty()) {
        if (serving_.empty()) throw InvalidArgument("model: no model is loaded");
        return serving_.front().second;
    }
    for (const auto& [n, s] : serving_)
        if (n == name) return s;
    if (auto r = routes_.find(name); r != routes_.end()) {
        uint64_t total = 0;
        for (const auto& t : r->second.targets) total += t.weight;
        uint64_t pick = std::uniform_int_distribution<uint64_t>(0, total - 1)(rng_);
        for (const auto& t : r->second.targets) {
            if (pick >= t.weight) {
                pick -= t.weight;
                continue;
            }
            for (const auto& [n, s] : serving_)
                if (n == t.model) {
                    ++front_.route_hits[{name, t.model}];
                    if (routed_to) *routed_to = t.model;
                    return s;
                }
            break;  // set_route and unload keep targets served; a race with unload lands here
        }
        throw InvalidArgument("model: route '" + name + "' points at a model that is not served");
    }
    throw InvalidArgument("model: '" + name + "' is not served; served: " + served_names(serving_, routes_));
}

void ModelRegistry::set_route(const Route& route) {
    check_served_name(route.name);
    if (route.targets.empty()) throw InvalidArgument("route.targets: a route needs at least one target");
    if (route.targets.size() > 16) throw InvalidArgument("route.targets: at most 16 targets");
    uint64_t total = 0;
    std::lock_guard lock(mutex_);
    for (const auto& [n, s] : serving_)
        if (n == route.name) throw InvalidArgument("route.name: '" + route.name + "' is a served model's name");
    for (const auto& t : route.targets) {
        if (t.weight > 1'000'000) throw InvalidArgument("route.targets.weight: at most 1000000 (got " + std::to_string(t.weight) + ")");
        total += t.weight;
        const bool served = std::any_of(serving_.begin(), serving_.end(), [&](const auto& e) { return e.first == t.model; });
        if (!served) throw InvalidArgument("route.targets.model: '" + t.model + "' is not served");
    }
    if (total == 0) throw InvalidArgument("route.targets.weight: the weights add up to 0");
    routes_[route.name] = route;
}

void ModelRegistry::delete_route(const std::string& name) {
    std::lock_guard lock(mutex_);
    if (routes_.erase(name) == 0) throw InvalidArgument("name: there is no route '" + name + "'");
}

std::vector<Route> ModelRegistry::routes() const {
    std::lock_guard lock(mutex_);
    std::vector<Route> out;
    for (const auto& [n, r] : routes_) out.push_back(r);
    return out;
}

std::vector<ServedModel> ModelRegistry::models() const {
    std::lock_guard lock(mutex_);
    std::vector<ServedModel> out;
    for (const auto& [n, s] : serving_) out.push_back({n, s, false});
    for (const auto& s : draining_) out.push_back({s->model_id(), s, true});
    return out;
}

std::string ModelRegistry::default_name() const {
    std::lock_guard lock(mutex_);
    return serving_.empty() ? std::string() : serving_.front().first;
}

std::vector<MetricsValues> ModelRegistry::metrics() const {
    std::vector<MetricsValues> out;
    for (const auto& m : models()) {
        out.push_back(m.service->metrics().values());
        if (m.draining) out.back().model += " (draining)";
    }
    return out;
}

FrontCounters ModelRegistry::front_counters() const {
    std::lock_guard lock(mutex_);
    return front_;
}

void ModelRegistry::count_rejected(const std::string& reason) {
    std::lock_guard lock(mutex_);
    ++front_.rejected[reason];
}

void ModelRegistry::reap() {
    std::unique_lock lock(mutex_);
    for (;;) {
        reap_wake_.wait_for(lock, std::chrono::milliseconds(100));
        // Free a drained model outside the lock: stopping it joins its engine thread.
        std::vector<std::shared_ptr<EngineService>> done;
        std::erase_if(draining_, [&](const std::shared_ptr<EngineService>& s) {
            // Only the registry holds it (no request thread does) and nothing is open.
            if (s.use_count() > 1 || s->open_requests() > 0) return false;
            done.push_back(s);
            return true;
        });
        const bool stop_now = stopping_ && draining_.empty();
        lock.unlock();
        for (auto& s : done) s->stop();
        done.clear();
        lock.lock();
        if (stop_now) return;
    }
}

void ModelRegistry::stop() {
    std::vector<std::shared_ptr<EngineService>> all;
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !reaper_.joinable()) return;
        stopping_ = true;
        for (auto& [n, s] : serving_) all.push_back(s);
        for (auto& s : draining_) all.push_back(s);
        serving_.clear();
    }
    for (auto& s : all) s->stop();  // ends open requests as cancelled, so draining models empty
    all.clear();
    reap_wake_.notify_all();
    if (reaper_.joinable()) reaper_.join();
}

}  // namespace enclave::server
