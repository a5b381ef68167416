#include "proxy/mesh/on_demand.h"

#include <iterator>

#include "proxy/policy/router.h"

namespace meshdeck::proxy {

const char* toString(OnDemandResult result) {
  switch (result) {
    case OnDemandResult::kFound:
      return "found";
    case OnDemandResult::kUnknown:
      return "unknown";
    case OnDemandResult::kTimeout:
      return "timeout";
    case OnDemandResult::kOverflow:
      return "overflow";
  }
  return "unknown";
}

std::string onDemandServiceName(std::string_view authority) {
  if (authority.empty() || authority.front() == '[') return {};  // IPv6 literal
  const auto colon = authority.rfind(':');
  std::string_view host = authority.substr(0, colon);
  if (host.empty() || host.size() > 253) return {};
  std::string out;
  out.reserve(host.size());
  bool only_digits_and_dots = true;
  for (const char raw : host) {
    const char c = (raw >= 'A' && raw <= 'Z') ? static_cast<char>(raw - 'A' + 'a') : raw;
    const bool digit = c >= '0' && c <= '9';
    if (!digit && c != '.' && c != '-' && !(c >= 'a' && c <= 'z')) return {};
    if (!digit && c != '.') only_digits_and_dots = false;
    out.push_back(c);
  }
  if (only_digits_and_dots) return {};  // an IPv4 address (or a number): not a service
  if (out.front() == '.' || out.front() == '-' || out.back() == '.') return {};
  return out;
}

bool configRoutes(const Config& config, std::string_view service) {
  for (const auto& l : config.listeners) {
    if (l.direction != Direction::kOutbound) continue;
    const auto table = config.route_tables.find(l.route_table);
    if (table != config.route_tables.end() && matchVirtualHost(table->second, service)) return true;
  }
  return false;
}

OnDemand::OnDemand(OnDemandOptions options) : options_(options) {}

uint64_t OnDemand::hold(const std::string& service, Completion done) {
  std::lock_guard lock(mu_);
  const uint64_t ticket = next_ticket_++;
  if (last_config_ && configRoutes(*last_config_, service)) {
    // Applied after admission looked at the worker's config: the worker has it by the time the
    // completion reaches it.
    ++counters_.found;
    done(OnDemandResult::kFound);
    return ticket;
  }
  auto it = pending_.find(service);
  const size_t for_service = it == pending_.end() ? 0 : it->second.waiters.size();
  if (held_ >= options_.max_held || for_service >= options_.max_per_service) {
    ++counters_.overflow;
    done(OnDemandResult::kOverflow);
    return ticket;
  }
  if (it == pending_.end()) {
    it = pending_.emplace(service, Pending{}).first;
    asks_cv_.notify_all();
  }
  it->second.waiters.emplace(ticket, std::move(done));
  tickets_.emplace(ticket, service);
  ++held_;
  return ticket;
}

bool OnDemand::cancel(uint64_t ticket, bool timed_out) {
  std::lock_guard lock(mu_);
  const auto t = tickets_.find(ticket);
  if (t == tickets_.end()) return false;
  const auto it = pending_.find(t->second);
  tickets_.erase(t);
  if (it != pending_.end()) {
    it->second.waiters.erase(ticket);
    // Nobody waits for it any more: a late answer has nothing to complete.
    if (it->second.waiters.empty()) pending_.erase(it);
  }
  --held_;
  if (timed_out) ++counters_.timeout;
  return true;
}

void OnDemand::completeLocked(std::map<std::string, Pending>::iterator it, OnDemandResult result) {
  auto& counter = result == OnDemandResult::kFound ? counters_.found : counters_.unknown;
  for (auto& [ticket, done] : it->second.waiters) {
    tickets_.erase(ticket);
    --held_;
    ++counter;
    done(result);
  }
  pending_.erase(it);
}

void OnDemand::streamOpened() {
  std::lock_guard lock(mu_);
  interrupted_ = false;
  for (auto& [_, p] : pending_) p.asked = false;
}

bool OnDemand::takeAsks(std::vector<std::string>* out, size_t max, std::chrono::milliseconds wait) {
  std::unique_lock lock(mu_);
  auto unasked = [this] {
    for (const auto& [_, p] : pending_)
      if (!p.asked) return true;
    return false;
  };
  asks_cv_.wait_for(lock, wait, [&] { return interrupted_ || unasked(); });
  if (interrupted_) return false;
  for (auto& [service, p] : pending_) {
    if (out->size() >= max) break;
    if (p.asked) continue;
    p.asked = true;
    out->push_back(service);
    ++counters_.asked;
  }
  return !out->empty();
}

void OnDemand::interrupt() {
  {
    std::lock_guard lock(mu_);
    interrupted_ = true;
  }
  asks_cv_.notify_all();
}

void OnDemand::configApplied(ConfigPtr config) {
  std::lock_guard lock(mu_);
  last_config_ = std::move(config);
  if (!last_config_) return;
  for (auto it = pending_.begin(); it != pending_.end();) {
    auto next = std::next(it);
    if (configRoutes(*last_config_, it->first)) {
      if (learned_.size() < options_.max_learned) learned_.insert(it->first);
      completeLocked(it, OnDemandResult::kFound);
    }
    it = next;
  }
}

void OnDemand::unknownService(const std::string& service) {
  std::lock_guard lock(mu_);
  learned_.erase(service);
  const auto it = pending_.find(service);
  if (it != pending_.end()) completeLocked(it, OnDemandResult::kUnknown);
}

std::vector<std::string> OnDemand::learned() const {
  std::lock_guard lock(mu_);
  return {learned_.begin(), learned_.end()};
}

size_t OnDemand::held() const {
  std::lock_guard lock(mu_);
  return held_;
}

std::string OnDemand::renderPrometheus() const {
  std::string out =
      "# HELP meshdeck_on_demand_requests_total Outbound requests held for a service outside the "
      "sidecar's scope, by outcome (docs/cp-scale.md, \"Scoping\").\n"
      "# TYPE meshdeck_on_demand_requests_total counter\n";
  for (const auto& [result, n] :
       {std::pair{"found", &counters_.found}, std::pair{"unknown", &counters_.unknown},
        std::pair{"timeout", &counters_.timeout}, std::pair{"overflow", &counters_.overflow}})
    out += std::string("meshdeck_on_demand_requests_total{result=\"") + result + "\"} " +
           std::to_string(n->load()) + "\n";
  out +=
      "# HELP meshdeck_on_demand_asks_total Services asked for on the discovery stream.\n"
      "# TYPE meshdeck_on_demand_asks_total counter\n"
      "meshdeck_on_demand_asks_total " +
      std::to_string(counters_.asked.load()) + "\n";
  out +=
      "# HELP meshdeck_on_demand_held Outbound requests held now.\n"
      "# TYPE meshdeck_on_demand_held gauge\n"
      "meshdeck_on_demand_held " +
      std::to_string(held()) + "\n";
  return out;
}

}  // namespace meshdeck::proxy
