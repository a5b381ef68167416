#include "controlplane/kubernetes/kube_registry.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <random>
#include <tuple>

namespace meshdeck::cp::kubernetes {

namespace json = boost::json;

const char* kubePath(KubeKind kind) {
  switch (kind) {
    case KubeKind::kPods:
      return "/api/v1/pods";
    case KubeKind::kServices:
      return "/api/v1/services";
    case KubeKind::kEndpointSlices:
      return "/apis/discovery.k8s.io/v1/endpointslices";
  }
  return "";
}

namespace {

const char* kindName(KubeKind kind) {
  switch (kind) {
    case KubeKind::kPods:
      return "pods";
    case KubeKind::kServices:
      return "services";
    case KubeKind::kEndpointSlices:
      return "endpointslices";
  }
  return "";
}

// The collection path, in one namespace when the options say so.
std::string collectionPath(KubeKind kind, const std::string& ns) {
  if (ns.empty()) return kubePath(kind);
  const std::string path = kubePath(kind);
  const auto last = path.rfind('/');
  return path.substr(0, last) + "/namespaces/" + queryEscape(ns) + path.substr(last);
}

const json::object* objectAt(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v ? v->if_object() : nullptr;
}

std::string stringAt(const json::object* o, std::string_view key) {
  if (!o) return {};
  const auto* v = o->if_contains(key);
  const auto* s = v ? v->if_string() : nullptr;
  return s ? std::string(*s) : std::string();
}

std::string key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

uint32_t portOf(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  const unsigned long v = std::stoul(text);
  return v > 0 && v <= 65535 ? static_cast<uint32_t>(v) : 0;
}

struct Meta {
  std::string ns, name, resource_version;
  const json::object* labels = nullptr;
  const json::object* annotations = nullptr;
};

std::optional<Meta> metaOf(const json::object& object) {
  const auto* m = objectAt(object, "metadata");
  if (!m) return std::nullopt;
  Meta meta;
  meta.ns = stringAt(m, "namespace");
  meta.name = stringAt(m, "name");
  meta.resource_version = stringAt(m, "resourceVersion");
  meta.labels = objectAt(*m, "labels");
  meta.annotations = objectAt(*m, "annotations");
  if (meta.name.empty()) return std::nullopt;
  return meta;
}

std::string tierOf(const Meta& meta) {
  std::string tier = stringAt(meta.labels, "meshdeck.io/tier");
  return tier.empty() ? stringAt(meta.labels, "tier") : tier;
}

KubeRegistry::Pod podOf(const Meta& meta, const json::object& object,
                        const KubeRegistryOptions& options) {
  KubeRegistry::Pod p;
  p.ns = meta.ns;
  p.name = meta.name;
  p.ip = stringAt(objectAt(object, "status"), "podIP");
  p.service_account = stringAt(objectAt(object, "spec"), "serviceAccountName");
  p.version = stringAt(meta.labels, "app.kubernetes.io/version");
  if (p.version.empty()) p.version = stringAt(meta.labels, "version");
  if (p.version.empty()) p.version = options.default_version;
  p.tier = tierOf(meta);
  p.inbound_port = portOf(stringAt(meta.annotations, "meshdeck.io/inbound-port"));
  return p;
}

KubeRegistry::Slice sliceOf(const Meta& meta, const json::object& object) {
  KubeRegistry::Slice s;
  s.ns = meta.ns;
  s.name = meta.name;
  s.service = stringAt(meta.labels, "kubernetes.io/service-name");
  if (const auto* eps = object.if_contains("endpoints"); eps && eps->is_array()) {
    for (const auto& e : eps->get_array()) {
      const auto* eo = e.if_object();
      if (!eo) continue;
      KubeRegistry::Slice::Endpoint ep;
      if (const auto* addrs = eo->if_contains("addresses"); addrs && addrs->is_array())
        for (const auto& a : addrs->get_array())
          if (a.is_string()) ep.addresses.emplace_back(a.get_string());
      // discovery.k8s.io/v1: a missing ready condition means unknown, to be taken as ready.
      if (const auto* cond = objectAt(*eo, "conditions"))
        if (const auto* ready = cond->if_contains("ready"); ready && ready->is_bool())
          ep.ready = ready->get_bool();
      if (const auto* ref = objectAt(*eo, "targetRef"); ref && stringAt(ref, "kind") == "Pod")
        ep.pod = stringAt(ref, "name");
      s.endpoints.push_back(std::move(ep));
    }
  }
  if (const auto* ports = object.if_contains("ports"); ports && ports->is_array())
    for (const auto& p : ports->get_array())
      if (const auto* po = p.if_object())
        if (const auto* n = po->if_contains("port");
            n && n->is_int64() && n->get_int64() > 0 && n->get_int64() <= 65535)
          s.ports.push_back(static_cast<uint32_t>(n->get_int64()));
  return s;
}

}  // namespace

KubeRegistry::KubeRegistry(KubeApiClient& client, KubeRegistryOptions options, Sink sink)
    : client_(client), options_(std::move(options)), sink_(std::move(sink)) {}

KubeRegistry::~KubeRegistry() { stop(); }

void KubeRegistry::start() {
  for (const auto kind : {KubeKind::kPods, KubeKind::kServices, KubeKind::kEndpointSlices})
    threads_.emplace_back([this, kind] { run(kind); });
}

void KubeRegistry::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  client_.cancel();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

KubeMeshView KubeRegistry::view() const {
  std::lock_guard lock(mu_);
  return buildViewLocked();
}

std::string KubeRegistry::resourceVersion(KubeKind kind) const {
  std::lock_guard lock(mu_);
  return rv_[static_cast<int>(kind)];
}

KubeRegistry::Counters KubeRegistry::counters() const {
  std::lock_guard lock(mu_);
  return counters_;
}

KubeRegistry::LineOutcome KubeRegistry::applyWatchLine(KubeKind kind, std::string_view line) {
  json::error_code ec;
  json::parse_options opts;
  opts.max_depth = 64;
  const json::value v = json::parse(line, ec, {}, opts);
  const auto* event = v.if_object();
  const std::string type = event ? stringAt(event, "type") : std::string();
  const auto* object = event ? objectAt(*event, "object") : nullptr;
  std::lock_guard lock(mu_);
  if (ec || !object || type.empty()) {
    ++counters_.bad_lines;
    return LineOutcome::kBad;
  }
  if (type == "ERROR") {
    // A Status object: code 410 (reason Expired or Gone) asks for a new list.
    const auto* code = object->if_contains("code");
    if (code && code->is_int64() && code->get_int64() == 410) return LineOutcome::kGone;
    spdlog::warn("kubernetes: watch of {} reports an error: {}", kindName(kind),
                 stringAt(object, "message"));
    return LineOutcome::kError;
  }
  const auto meta = metaOf(*object);
  const std::string rv =
      meta ? meta->resource_version : stringAt(objectAt(*object, "metadata"), "resourceVersion");
  if (type == "BOOKMARK") {
    if (rv.empty()) {
      ++counters_.bad_lines;
      return LineOutcome::kBad;
    }
    rv_[static_cast<int>(kind)] = rv;
    ++counters_.bookmarks;
    return LineOutcome::kBookmark;
  }
  const bool removed = type == "DELETED";
  if (!meta || (!removed && type != "ADDED" && type != "MODIFIED")) {
    ++counters_.bad_lines;
    return LineOutcome::kBad;
  }
  const std::string k = key(meta->ns, meta->name);
  switch (kind) {
    case KubeKind::kPods:
      if (removed)
        pods_.erase(k);
      else
        pods_[k] = podOf(*meta, *object, options_);
      break;
    case KubeKind::kServices:
      if (removed)
        services_.erase(k);
      else
        services_[k] = Service{meta->ns, meta->name, tierOf(*meta)};
      break;
    case KubeKind::kEndpointSlices:
      if (removed)
        slices_.erase(k);
      else
        slices_[k] = sliceOf(*meta, *object);
      break;
  }
  if (!rv.empty()) rv_[static_cast<int>(kind)] = rv;
  ++counters_.events;
  return LineOutcome::kApplied;
}

bool KubeRegistry::list(KubeKind kind) {
  std::map<std::string, Pod> pods;
  std::map<std::string, Service> services;
  std::map<std::string, Slice> slices;
  std::string continue_token, list_rv;
  const std::string path = collectionPath(kind, options_.watch_namespace);
  for (int page = 0;; ++page) {
    std::string target = path + "?limit=" + std::to_string(options_.page_limit);
    if (!continue_token.empty()) target += "&continue=" + queryEscape(continue_token);
    const auto r = client_.get(target);
    std::string why;
    json::error_code ec;
    json::value v;
    if (!r.error.empty()) {
      why = r.error;
    } else if (r.status != 200) {
      why = "HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 300);
    } else {
      json::parse_options opts;
      opts.max_depth = 64;
      v = json::parse(r.body, ec, {}, opts);
      if (ec || !v.is_object()) why = "the answer is not a JSON object";
    }
    if (!why.empty()) {
      std::lock_guard lock(mu_);
      ++counters_.list_failures;
      if (!stopping_) spdlog::warn("kubernetes: list of {} failed: {}", kindName(kind), why);
      return false;
    }
    const auto& o = v.get_object();
    const auto* meta = objectAt(o, "metadata");
    if (page == 0) list_rv = stringAt(meta, "resourceVersion");
    continue_token = stringAt(meta, "continue");
    if (const auto* items = o.if_contains("items"); items && items->is_array()) {
      for (const auto& item : items->get_array()) {
        const auto* io = item.if_object();
        const auto m = io ? metaOf(*io) : std::nullopt;
        if (!m) continue;
        const std::string k = key(m->ns, m->name);
        if (kind == KubeKind::kPods) pods[k] = podOf(*m, *io, options_);
        if (kind == KubeKind::kServices) services[k] = Service{m->ns, m->name, tierOf(*m)};
        if (kind == KubeKind::kEndpointSlices) slices[k] = sliceOf(*m, *io);
      }
    }
    if (continue_token.empty()) break;
  }
  {
    std::lock_guard lock(mu_);
    if (kind == KubeKind::kPods) pods_ = std::move(pods);
    if (kind == KubeKind::kServices) services_ = std::move(services);
    if (kind == KubeKind::kEndpointSlices) slices_ = std::move(slices);
    rv_[static_cast<int>(kind)] = list_rv;
    ++counters_.lists;
  }
  spdlog::info("kubernetes: listed {} at resource version {}", kindName(kind), list_rv);
  publish();
  return true;
}

bool KubeRegistry::backoff(uint32_t failures) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const int64_t min = options_.backoff_min.count();
  const int64_t cap = std::min<int64_t>(
      options_.backoff_max.count(), min << std::min<uint32_t>(failures > 0 ? failures - 1 : 0, 16));
  const auto wait =
      std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(cap / 2, cap)(rng));
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, wait, [this] { return stopping_; });
}

void KubeRegistry::run(KubeKind kind) {
  bool need_list = true;
  uint32_t failures = 0;
  const std::string path = collectionPath(kind, options_.watch_namespace);
  auto stopping = [this] {
    std::lock_guard lock(mu_);
    return stopping_;
  };
  while (!stopping()) {
    if (need_list) {
      if (!list(kind)) {
        if (!backoff(++failures)) return;
        continue;
      }
      need_list = false;
    }
    const std::string rv = resourceVersion(kind);
    const std::string target =
        path + "?watch=1&allowWatchBookmarks=true&resourceVersion=" + queryEscape(rv) +
        "&timeoutSeconds=" + std::to_string(options_.watch_timeout.count());
    {
      std::lock_guard lock(mu_);
      ++counters_.watches;
    }
    bool gone = false;
    uint64_t applied = 0;
    const auto end = client_.stream(
        target,
        [&](std::string_view line) {
          const auto outcome = applyWatchLine(kind, line);
          if (outcome == LineOutcome::kGone) {
            gone = true;
            return false;
          }
          if (outcome == LineOutcome::kApplied) {
            ++applied;
            publish();
          }
          if (outcome == LineOutcome::kBad)
            spdlog::warn("kubernetes: watch of {}: skipped a line that is not a watch event",
                         kindName(kind));
          return true;
        },
        [&] {
          std::lock_guard lock(mu_);
          ++counters_.oversize_lines;
          spdlog::warn("kubernetes: watch of {}: skipped an event longer than {} bytes",
                       kindName(kind), options_.max_line_bytes);
        },
        options_.max_line_bytes, 2 * options_.watch_timeout);
    if (stopping()) return;
    if (gone || end.status == 410) {
      std::lock_guard lock(mu_);
      ++counters_.relists_gone;
      spdlog::info("kubernetes: resource version {} of {} is gone (410): listing again", rv,
                   kindName(kind));
      need_list = true;
      continue;
    }
    if (applied > 0) failures = 0;
    if (end.status != 200) {
      {
        std::lock_guard lock(mu_);
        ++counters_.watch_failures;
      }
      spdlog::warn("kubernetes: watch of {} failed: {}", kindName(kind),
                   end.status
                       ? "HTTP " + std::to_string(end.status) + ": " + end.body.substr(0, 300)
                       : end.error);
      if (!backoff(++failures)) return;
      continue;
    }
    if (!end.error.empty()) {
      {
        std::lock_guard lock(mu_);
        ++counters_.disconnects;
      }
      spdlog::info("kubernetes: watch of {} broke ({}); resuming from resource version {}",
                   kindName(kind), end.error, resourceVersion(kind));
      if (!backoff(++failures)) return;
      continue;
    }
    // The server ended the watch (timeoutSeconds): renew it at once.
    failures = 0;
  }
}

KubeMeshView KubeRegistry::buildViewLocked() const {
  KubeMeshView view;
  std::map<std::pair<std::string, std::string>, KubeMeshView::Service> services;
  for (const auto& [k, s] : services_) {
    auto& out = services[{s.name, s.ns}];
    out.name = s.name;
    out.ns = s.ns;
    out.tier = s.tier;
  }
  for (const auto& [k, slice] : slices_) {
    const auto it = services.find({slice.service, slice.ns});
    if (slice.service.empty() || it == services.end()) continue;  // a Service we do not know
    for (const auto& ep : slice.endpoints) {
      const auto pod_it = ep.pod.empty() ? pods_.end() : pods_.find(key(slice.ns, ep.pod));
      const Pod* pod = pod_it == pods_.end() ? nullptr : &pod_it->second;
      const std::string version = pod ? pod->version : options_.default_version;
      it->second.versions.insert(version);
      if (it->second.tier.empty() && pod) it->second.tier = pod->tier;
      for (const auto& address : ep.addresses) {
        SourceEndpoint e;
        e.service = slice.service;
        e.version = version;
        e.ns = slice.ns;
        e.host = address;
        e.port = pod && pod->inbound_port ? pod->inbound_port : options_.default_inbound_port;
        e.app_port = slice.ports.empty() ? 0 : slice.ports.front();
        e.pod = ep.pod;
        e.ready = ep.ready;
        view.endpoints.push_back(std::move(e));
      }
    }
  }
  for (auto& [k, s] : services) view.services.push_back(std::move(s));
  std::sort(view.endpoints.begin(), view.endpoints.end(),
            [](const SourceEndpoint& a, const SourceEndpoint& b) {
              return std::tie(a.service, a.host, a.port, a.ns) <
                     std::tie(b.service, b.host, b.port, b.ns);
            });
  return view;
}

void KubeRegistry::publish() {
  std::lock_guard publish_lock(publish_mu_);
  KubeMeshView view;
  {
    std::lock_guard lock(mu_);
    view = buildViewLocked();
  }
  if (view == published_) return;
  published_ = view;
  if (sink_) sink_(view);
}

void applyToRegistry(const KubeMeshView& view, Registry& registry) {
  for (const auto& s : view.services) {
    if (s.versions.empty()) registry.registerService(s.name, "", s.tier);
    for (const auto& v : s.versions) registry.registerService(s.name, v, s.tier);
  }
  registry.setSourceEndpoints("kubernetes", view.endpoints);
}

}  // namespace meshdeck::cp::kubernetes
