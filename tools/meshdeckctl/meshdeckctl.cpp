#include "tools/meshdeckctl/meshdeckctl.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <thread>
#include <vector>

#include "common/atomic_file.h"
#include "common/bounded_file.h"
#include "common/input_limits.h"
#include "common/located_error.h"
#include "common/pki/pki.h"
#include "common/telemetry/counter_fields.h"
#include "common/telemetry/grpc_status.h"
#include "controlplane/api/edge_transport.h"
#include "controlplane/api/types.h"
#include "tools/meshdeckctl/time_arg.h"

namespace meshdeck::tools {
namespace v1 = meshdeck::v1;
using google::protobuf::util::TimeUtil;

namespace {

// A simple aligned text table.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string str() const {
    std::vector<size_t> width;
    for (const auto& r : rows_) {
      width.resize(std::max(width.size(), r.size()));
      for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    std::string out;
    for (const auto& r : rows_) {
      std::string line;
      for (size_t i = 0; i < r.size(); ++i)
        line += i + 1 == r.size() ? r[i] : fmt::format("{:<{}}   ", r[i], width[i]);
      out += line + "\n";
    }
    return out;
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

std::string json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, opts);
  return out;
}

void setBlock(YAML::Node n) {
  if (n.IsMap() || n.IsSequence()) {
    n.SetStyle(YAML::EmitterStyle::Block);
    for (auto it = n.begin(); it != n.end(); ++it) setBlock(n.IsMap() ? it->second : *it);
  }
}

// JSON is YAML's flow style: reload it and emit block style.
std::string yamlOf(const std::string& json_text) {
  YAML::Node n = YAML::Load(json_text);
  setBlock(n);
  YAML::Emitter e;
  e << n;
  return std::string(e.c_str()) + "\n";
}

// Prints a list of messages as a JSON array or a YAML sequence.
template <typename T>
void printList(const google::protobuf::RepeatedPtrField<T>& items, const std::string& format) {
  std::string text = "[";
  for (int i = 0; i < items.size(); ++i) text += (i ? "," : "") + json(items[i]);
  text += "]";
  std::cout << (format == "yaml" ? yamlOf(text) : text + "\n");
}

std::string pct(double share) { return fmt::format("{:.2f}%", share * 100.0); }
std::string ms(double v) { return fmt::format("{:.1f}ms", v); }

std::string split(const v1::ServiceEdge& e) {
  uint64_t total = 0;
  for (const auto& [v, n] : e.requests_by_destination_version()) total += n;
  std::vector<std::pair<std::string, uint64_t>> parts(e.requests_by_destination_version().begin(),
                                                      e.requests_by_destination_version().end());
  std::sort(parts.begin(), parts.end());
  std::string out;
  for (const auto& [v, n] : parts)
    out += fmt::format("{}{}={:.0f}%", out.empty() ? "" : " ", v.empty() ? "?" : v,
                       total ? 100.0 * double(n) / double(total) : 0.0);
  return out.empty() ? "-" : out;
}

std::string join(const google::protobuf::RepeatedPtrField<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
  return out.empty() ? "-" : out;
}

std::string toString(v1::ProxyStatus::SyncState s) {
  switch (s) {
    case v1::ProxyStatus::SYNCED:
      return "synced";
    case v1::ProxyStatus::STALE:
      return "stale";
    case v1::ProxyStatus::REJECTED:
      return "rejected";
    case v1::ProxyStatus::DISCONNECTED:
      return "disconnected";
    default:
      return "never-sent";
  }
}

// How the hop between the two sidecars was carried in the window, by the rule the graph's edge
// badge uses (cp::edgeTransport): mtls, plaintext, mixed (both: a PERMISSIVE migration still in
// progress), or "-".
std::string transport(const v1::WindowMetrics& m) {
  const cp::EdgeTransport t = cp::edgeTransport(m.mtls_requests(), m.plaintext_requests());
  return t == cp::EdgeTransport::kNone ? "-" : cp::toString(t);
}

// Edge counters the default table shows; `-o wide` shows every one of
// common::kEdgeCounters.
constexpr std::string_view kDefaultEdgeCounters[] = {"faults_injected"};

bool shown(const common::EdgeCounterField& f, bool wide) {
  return wide || std::find(std::begin(kDefaultEdgeCounters), std::end(kDefaultEdgeCounters),
                           f.name) != std::end(kDefaultEdgeCounters);
}

}  // namespace

std::vector<std::string> edgeTableColumns(bool wide) {
  std::vector<std::string> columns{"SOURCE", "DESTINATION", "RPS", "SUCCESS", "P50", "P90", "P99"};
  for (const auto& f : common::kEdgeCounters)
    if (shown(f, wide)) columns.emplace_back(f.column);
  columns.insert(columns.end(), {"SPLIT", "TRANSPORT"});
  if (wide) columns.insert(columns.end(), {"PROTOCOL", "GRPC"});
  columns.emplace_back("POLICIES");
  return columns;
}

std::string edgeTable(const v1::GraphSnapshot& g, bool wide) {
  Table t(edgeTableColumns(wide));
  for (const auto& e : g.edges()) {
    const auto& m = e.metrics();
    std::vector<std::string> row{e.source(),
                                 e.destination(),
                                 fmt::format("{:.1f}", m.requests_per_second()),
                                 pct(m.success_rate()),
                                 ms(m.p50_ms()),
                                 ms(m.p90_ms()),
                                 ms(m.p99_ms())};
#define MESHDECK_CELL_(member, ...) \
  if (shown(common::kEdgeCounters[i++], wide)) row.push_back(std::to_string(m.member()));
    size_t i = 0;
    MESHDECK_EDGE_COUNTERS(MESHDECK_CELL_)
#undef MESHDECK_CELL_
    row.insert(row.end(), {split(e), transport(m)});
    if (wide) {
      // The edge's protocols, and its three most frequent gRPC statuses ("OK=97,UNAVAILABLE=3").
      common::GrpcStatusCounts grpc{};
      for (const auto& [code, n] : m.grpc_statuses())
        if (code < grpc.size()) grpc[code] = n;
      const std::string statuses = cp::grpcStatusSummary(grpc);
      row.push_back(e.protocol().empty() ? "-" : e.protocol());
      row.push_back(statuses.empty() ? "-" : statuses);
    }
    row.push_back(join(e.policies()));
    t.add(std::move(row));
  }
  return t.str();
}

namespace {}  // namespace

Ctl::Ctl(CtlOptions options) : o_(std::move(options)) {
  // Our limits, not gRPC's defaults (4 MiB received): requests up to what the control plane
  // accepts, responses up to a large mesh's exported snapshot.
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(static_cast<int>(common::limits::kMaxReceiveMessageBytes));
  args.SetMaxReceiveMessageSize(static_cast<int>(common::limits::kMaxManagementResponseBytes));
  stub_ = v1::Mesh::NewStub(
      grpc::CreateCustomChannel(o_.server, grpc::InsecureChannelCredentials(), args));
}

Ctl::Ctl(CtlOptions options, std::shared_ptr<grpc::Channel> channel)
    : o_(std::move(options)), stub_(v1::Mesh::NewStub(std::move(channel))) {}

std::unique_ptr<grpc::ClientContext> Ctl::context() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(o_.timeout_ms));
  return ctx;
}

int Ctl::failed(const grpc::Status& status) const {
  if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
      status.error_message().rfind("Received message larger than max", 0) == 0) {
    // gRPC's own wording for a message over a size limit, on either side.
    std::cerr << fmt::format(
        "meshdeckctl: {}: a message was larger than the limit ({}); the control plane accepts "
        "requests of at most {}\n",
        o_.server, status.error_message(),
        common::formatBytes(common::limits::kMaxReceiveMessageBytes));
    return 1;
  }
  std::cerr << fmt::format("meshdeckctl: {}: {}\n", o_.server, status.error_message());
  const bool unreachable = status.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  if (unreachable && !o_.credentials.empty())
    std::cerr << fmt::format(
        "meshdeckctl: no TLS connection with {}'s certificate: is {} the control plane's TLS "
        "port, and is the certificate from this mesh's CA (a foreign or retired root is refused "
        "in the handshake)?\n",
        o_.credentials, o_.server);
  return unreachable ? 2 : 1;
}

// The CA's roots and rotation state; `begin` and `retire` drive a root rotation.
int Ctl::ca() {
  v1::RotateRootRequest req;
  req.set_action(o_.ca_action == "begin"    ? v1::ROOT_ROTATION_BEGIN
                 : o_.ca_action == "retire" ? v1::ROOT_ROTATION_RETIRE
                                            : v1::ROOT_ROTATION_STATUS);
  req.set_force(o_.force);
  v1::RotateRootResponse r;
  auto s = stub_->RotateRoot(context().get(), req, &r);
  if (!s.ok()) return failed(s);
  if (o_.output == "json") {
    std::cout << json(r) << "\n";
    return 0;
  }
  if (o_.output == "yaml") {
    std::cout << yamlOf(json(r));
    return 0;
  }
  auto day = [](const google::protobuf::Timestamp& t) {
    return TimeUtil::ToString(t).substr(0, 10);
  };
  if (!r.message().empty()) std::cout << r.message() << "\n";
  std::cout << fmt::format("trust domain: {}\nrotation in progress: {}\n", r.trust_domain(),
                           r.rotation_in_progress() ? "yes" : "no");
  Table t({"ROOT", "SUBJECT", "SHA-256", "NOT BEFORE", "NOT AFTER"});
  const auto& a = r.active_root();
  t.add({"active", a.subject(), a.fingerprint_sha256(), day(a.not_before()), day(a.not_after())});
  for (const auto& c : r.retiring_roots())
    t.add(
        {"retiring", c.subject(), c.fingerprint_sha256(), day(c.not_before()), day(c.not_after())});
  std::cout << t.str();
  if (r.rotation_in_progress())
    std::cout << fmt::format("proxies still on the retiring root: {}\n",
                             join(r.proxies_on_retiring_root()));
  if (!r.proxies_unknown_issuer().empty())
    std::cout << fmt::format(
        "proxies with a certificate issued before this control plane started: {}\n",
        join(r.proxies_unknown_issuer()));
  return 0;
}

int Ctl::get() {
  // Only the edge and service tables have more columns to show; "wide" is the plain table
  // elsewhere.
  const bool wide = o_.output == "wide";
  if (wide && o_.what != "edges") o_.output = "table";
  if (!o_.at.empty()) return getAt();
  if (o_.what == "certs") return certs();
  if (o_.what == "authz") return authz();
  if (o_.what == "policies") {
    v1::ListPoliciesResponse r;
    auto s = stub_->ListPolicies(context().get(), {}, &r);
    if (!s.ok()) return failed(s);
    if (o_.output != "table") {
      printList(r.policies(), o_.output);
      return 0;
    }
    Table t({"KIND", "NAME", "TARGET", "REVISION"});
    for (const auto& p : r.policies())
      t.add({p.kind(), p.name(), p.target(), std::to_string(p.revision())});
    std::cout << t.str();
    return 0;
  }
  v1::GetGraphRequest req;
  req.set_window_seconds(o_.window_seconds);
  v1::GraphSnapshot g;
  auto s = stub_->GetGraph(context().get(), req, &g);
  if (!s.ok()) return failed(s);
  if (o_.what == "edges") {
    if (o_.output != "table" && o_.output != "wide")
      printList(g.edges(), o_.output);
    else
      std::cout << edgeTable(g, o_.output == "wide");
  } else if (o_.what == "services") {
    if (o_.output != "table") {
      printList(g.services(), o_.output);
      return 0;
    }
    std::vector<std::string> columns{"NAME",    "VERSIONS", "INSTANCES", "RPS",
                                     "SUCCESS", "P50",      "P99",       "HEALTH"};
    if (wide) columns.emplace_back("REASONS");
    Table t(columns);
    for (const auto& n : g.services()) {
      const auto& m = n.inbound();
      // The control plane's health (docs/health-and-metrics.md); "-" from one that has none.
      static constexpr const char* kHealth[] = {"-", "idle", "healthy", "degraded", "failing"};
      const int state = n.has_health() ? static_cast<int>(n.health().state()) : 0;
      std::vector<std::string> row{n.name(),
                                   join(n.versions()),
                                   std::to_string(n.instances()),
                                   fmt::format("{:.1f}", m.requests_per_second()),
                                   pct(m.success_rate()),
                                   ms(m.p50_ms()),
                                   ms(m.p99_ms()),
                                   state >= 0 && state <= 4 ? kHealth[state] : "-"};
      if (wide) {
        std::string reasons;
        for (const auto& r : n.health().reasons()) reasons += (reasons.empty() ? "" : "; ") + r;
        row.push_back(reasons.empty() ? "-" : reasons);
      }
      t.add(row);
    }
    std::cout << t.str();
  } else {
    if (o_.output != "table") {
      printList(g.proxies(), o_.output);
      return 0;
    }
    Table t({"PROXY", "SERVICE", "VERSION", "INBOUND", "STATE", "SENT", "ACKED", "REASON"});
    for (const auto& p : g.proxies())
      t.add({p.proxy_id(), p.service(), p.version(), std::to_string(p.inbound_port()),
             toString(p.state()), p.version_sent().empty() ? "-" : p.version_sent(),
             p.version_acked().empty() ? "-" : p.version_acked(),
             p.nack_reason().empty() ? "-" : p.nack_reason()});
    std::cout << t.str();
  }
  return 0;
}

// Authorization decisions per rule of each service's inbound proxies over the window. JSON and
// YAML give one flat object per rule, every field present.
int Ctl::authz() {
  v1::GetGraphRequest req;
  req.set_window_seconds(o_.window_seconds);
  v1::GraphSnapshot g;
  auto s = stub_->GetGraph(context().get(), req, &g);
  if (!s.ok()) return failed(s);
  if (o_.output != "table") {
    google::protobuf::util::JsonPrintOptions opts;
    opts.preserve_proto_field_names = true;
    opts.always_print_primitive_fields = true;
    std::string text = "[";
    for (const auto& n : g.services())
      for (const auto& a : n.authorization()) {
        std::string rule;
        (void)google::protobuf::util::MessageToJsonString(a, &rule, opts);
        text += fmt::format("{}{{\"service\":\"{}\",{}", text.size() > 1 ? "," : "", n.name(),
                            rule.substr(1));
      }
    text += "]";
    std::cout << (o_.output == "yaml" ? yamlOf(text) : text + "\n");
    return 0;
  }
  Table t({"SERVICE", "POLICY", "RULE", "ACTION", "ALLOWED", "DENIED", "DRY-RUN WOULD DENY"});
  for (const auto& n : g.services())
    for (const auto& a : n.authorization())
      t.add({n.name(), a.policy().empty() ? "-" : a.policy(), a.rule(),
             a.action() + (a.dry_run() ? " (dry run)" : ""), std::to_string(a.allowed()),
             std::to_string(a.denied()), std::to_string(a.dry_run_denied())});
  std::cout << t.str();
  std::cout << fmt::format("decisions of the last {} s\n", g.window_seconds());
  return 0;
}

// Workload certificates; the table flags those in the last 20 % of their lifetime (renewal,
// due at half life, has not happened) and the expired ones.
int Ctl::certs() {
  v1::ListCertificatesResponse r;
  auto s = stub_->ListCertificates(context().get(), {}, &r);
  if (!s.ok()) return failed(s);
  if (o_.output != "table") {
    printList(r.certificates(), o_.output);
    return 0;
  }
  const auto now = std::chrono::system_clock::now();
  auto tp = [](const google::protobuf::Timestamp& t) {
    return std::chrono::system_clock::from_time_t(TimeUtil::TimestampToTimeT(t));
  };
  Table t({"PROXY", "SPIFFE ID", "ISSUER", "SERIAL", "NOT AFTER", "STATE"});
  for (const auto& c : r.certificates()) {
    const auto nb = tp(c.not_before()), na = tp(c.not_after());
    const auto left = std::chrono::duration_cast<std::chrono::minutes>(na - now).count();
    std::string state;
    switch (pki::validityAt(nb, na, now)) {
      case pki::Validity::kNotYetValid:
        state = "not yet valid";
        break;
      case pki::Validity::kValid:
        state = fmt::format("ok ({}h{:02}m left)", left / 60, left % 60);
        break;
      case pki::Validity::kExpiringSoon:
        state = fmt::format("EXPIRING ({}h{:02}m left)", left / 60, left % 60);
        break;
      case pki::Validity::kExpired:
        state = "EXPIRED";
        break;
    }
    t.add(
        {c.proxy_id().empty() ? "-" : c.proxy_id(), c.spiffe_id(), c.issuer(), c.serial(),
         TimeUtil::ToString(TimeUtil::TimeTToTimestamp(TimeUtil::TimestampToTimeT(c.not_after()))),
         state});
  }
  std::cout << t.str();
  if (r.certificates_size() == 0) std::cout << "(no certificates issued)\n";
  return 0;
}

int Ctl::printApply(const v1::ApplyPoliciesResponse& r) const {
  if (!r.ok()) {
    for (const auto& e : r.errors()) {
      const common::LocatedError error{e.file(), e.line(), e.column(), e.field(), e.message()};
      std::cerr << error.toString() << "\n";
    }
    std::cerr << fmt::format("refused: {} error(s), nothing changed (revision {})\n",
                             r.errors_size(), r.revision());
    return 1;
  }
  // Warnings never make the command fail: the change was (or would be) applied.
  for (const auto& w : r.warnings()) {
    const auto& e = w.where();
    const common::LocatedError where{e.file(), e.line(), e.column(), e.field(), e.message()};
    std::cerr << "warning: " << where.toString() << "\n";
  }
  std::cout << fmt::format("revision {}{}: {}\n", r.revision(), o_.dry_run ? " (dry run)" : "",
                           r.summary());
  return 0;
}

int Ctl::apply() {
  v1::ApplyPoliciesRequest req;
  std::string error;
  // Checked here, before anything is sent, with the limits the control plane enforces.
  namespace limits = common::limits;
  std::error_code ec;
  const auto size = std::filesystem::file_size(o_.file, ec);
  if (!ec && size > limits::kMaxPolicyTextBytes) {
    std::cerr << fmt::format(
        "meshdeckctl: {}: policy file is {}; the control plane accepts at most {}\n", o_.file,
        common::formatBytes(size), common::formatBytes(limits::kMaxPolicyTextBytes));
    return 1;
  }
  if (!common::readFileLimited(o_.file, limits::kMaxPolicyTextBytes, req.mutable_yaml(), &error)) {
    std::cerr << "meshdeckctl: " << error << "\n";
    return 1;
  }
  if (const auto bad = common::findInvalidUtf8(req.yaml())) {
    std::cerr << fmt::format("meshdeckctl: {}: file is not UTF-8 text ({})\n", o_.file,
                             bad->toString());
    return 1;
  }
  req.set_file(o_.file);
  req.set_author(o_.author);
  req.set_dry_run(o_.dry_run);
  v1::ApplyPoliciesResponse r;
  auto s = stub_->ApplyPolicies(context().get(), req, &r);
  if (!s.ok()) return failed(s);
  return printApply(r);
}

int Ctl::remove() {
  v1::DeletePolicyRequest req;
  req.set_kind(o_.kind);
  req.set_name(o_.name);
  req.set_author(o_.author);
  v1::ApplyPoliciesResponse r;
  auto s = stub_->DeletePolicy(context().get(), req, &r);
  if (!s.ok()) return failed(s);
  return printApply(r);
}

int Ctl::history() {
  v1::ListRevisionsResponse r;
  auto s = stub_->ListRevisions(context().get(), {}, &r);
  if (!s.ok()) return failed(s);
  Table t({"REVISION", "TIME", "AUTHOR", "SUMMARY"});
  for (const auto& rev : r.revisions())
    t.add({std::to_string(rev.number()), TimeUtil::ToString(rev.time()), rev.author(),
           rev.summary()});
  std::cout << t.str();
  return 0;
}

int Ctl::revert() {
  v1::RevertToRevisionRequest req;
  req.set_revision(o_.revision);
  req.set_author(o_.author);
  v1::ApplyPoliciesResponse r;
  auto s = stub_->RevertToRevision(context().get(), req, &r);
  if (!s.ok()) return failed(s);
  return printApply(r);
}

int Ctl::diff() {
  v1::DiffRevisionsRequest req;
  req.set_from(o_.revision);
  req.set_to(o_.revision_to);
  v1::DiffRevisionsResponse r;
  auto s = stub_->DiffRevisions(context().get(), req, &r);
  if (!s.ok()) return failed(s);
  std::cout << r.diff();
  return 0;
}

namespace {
google::protobuf::Timestamp timestampOf(std::chrono::system_clock::time_point t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(
      std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}
std::chrono::system_clock::time_point timeOf(const google::protobuf::Timestamp& t) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::nanoseconds(google::protobuf::util::TimeUtil::TimestampToNanoseconds(t))));
}
}  // namespace

bool Ctl::graphAt(v1::GetGraphAtResponse* r, int* code) {
  std::string error;
  const auto now = std::chrono::system_clock::now();
  const auto at = parseTimeArg(o_.at, now, &error);
  if (!at) {
    std::cerr << "meshdeckctl: --at: " << error << "\n";
    *code = 1;
    return false;
  }
  v1::GetGraphAtRequest req;
  *req.mutable_from() = timestampOf(*at - std::chrono::seconds(o_.window_seconds));
  *req.mutable_to() = timestampOf(*at);
  auto s = stub_->GetGraphAt(context().get(), req, r);
  if (!s.ok()) {
    *code = failed(s);
    return false;
  }
  if (!r->available()) {
    std::cerr << "meshdeckctl: " << r->message() << "\n";
    *code = 1;
    return false;
  }
  return true;
}

int Ctl::getAt() {
  if (o_.what != "edges" && o_.what != "services") {
    std::cerr << "meshdeckctl: --at works with get edges and get services (the history keeps "
                 "traffic, not "
              << o_.what << ")\n";
    return 1;
  }
  v1::GetGraphAtResponse r;
  int code = 0;
  if (!graphAt(&r, &code)) return code;
  if (o_.output == "json" || o_.output == "yaml") {
    if (o_.what == "edges")
      printList(r.edges(), o_.output);
    else
      printList(r.services(), o_.output);
    return 0;
  }
  std::cout << fmt::format("# {} .. {} ({} s buckets), policy revision {}{}\n",
                           formatRfc3339(timeOf(r.from())), formatRfc3339(timeOf(r.to())),
                           r.resolution_seconds(), r.policy_revision(),
                           r.revision_author().empty() ? "" : " by " + r.revision_author());
  if (o_.what == "edges") {
    v1::GraphSnapshot g;
    *g.mutable_edges() = r.edges();
    std::cout << edgeTable(g, o_.output == "wide");
    return 0;
  }
  Table t({"NAME", "RPS", "SUCCESS", "P50", "P99"});
  for (const auto& n : r.services()) {
    const auto& m = n.inbound();
    t.add({n.name(), fmt::format("{:.1f}", m.requests_per_second()), pct(m.success_rate()),
           ms(m.p50_ms()), ms(m.p99_ms())});
  }
  std::cout << t.str();
  return 0;
}

int Ctl::events() {
  std::string error;
  const auto range = parseTimeRange(o_.since, o_.until, /*until_defaults_to_now=*/false,
                                    std::chrono::system_clock::now(), &error);
  if (!range) {
    std::cerr << "meshdeckctl: " << error << "\n";
    return 1;
  }
  v1::ListEventsRequest req;
  *req.mutable_since() = timestampOf(range->since);
  if (range->until) *req.mutable_until() = timestampOf(*range->until);
  for (const auto& k : o_.kinds) req.add_kinds(k);
  v1::ListEventsResponse r;
  auto s = stub_->ListEvents(context().get(), req, &r);
  if (!s.ok()) return failed(s);
  if (!r.available()) {
    std::cerr << "meshdeckctl: " << r.message() << "\n";
    return 1;
  }
  if (o_.output == "json" || o_.output == "yaml") {
    printList(r.events(), o_.output);
    return 0;
  }
  Table t({"TIME", "KIND", "SUBJECT", "DETAIL", "AUTHOR"});
  for (const auto& e : r.events())
    t.add({formatRfc3339(timeOf(e.time())), e.kind(), e.subject(),
           e.detail().empty() ? "-" : e.detail(), e.author().empty() ? "-" : e.author()});
  std::cout << t.str();
  return 0;
}

int Ctl::snapshot() {
  if (!o_.at.empty()) {
    // The history keeps the graph's traffic and the revision in force, not the whole state:
    // the document is the GetGraphAt answer (docs/history.md), not a snapshot file.
    v1::GetGraphAtResponse r;
    int code = 0;
    if (!graphAt(&r, &code)) return code;
    const std::string text = json(r) + "\n";
    if (o_.file == "-") {
      std::cout << text;
      return 0;
    }
    std::string error;
    if (!common::writeFileAtomically(o_.file, text, &error)) {
      std::cerr << "meshdeckctl: " << error << "\n";
      return 1;
    }
    std::cout << fmt::format("wrote {} ({} bytes)\n", o_.file, text.size());
    return 0;
  }
  v1::ExportSnapshotRequest req;
  req.set_window_seconds(o_.window_seconds);
  v1::ExportSnapshotResponse r;
  auto s = stub_->ExportSnapshot(context().get(), req, &r);
  if (!s.ok()) return failed(s);
  if (o_.file == "-") {
    std::cout << r.json();
    return 0;
  }
  std::string error;
  if (!common::writeFileAtomically(o_.file, r.json(), &error)) {
    std::cerr << "meshdeckctl: " << error << "\n";
    return 1;
  }
  std::cout << fmt::format("wrote {} ({} bytes)\n", o_.file, r.json().size());
  return 0;
}

int Ctl::top() {
  if (o_.top_routes) return topRoutes();
  const bool tty = isatty(STDOUT_FILENO);
  for (int i = 0; o_.iterations == 0 || i < o_.iterations; ++i) {
    if (i > 0) std::this_thread::sleep_for(std::chrono::milliseconds(o_.interval_ms));
    v1::GetGraphRequest req;
    req.set_window_seconds(o_.window_seconds);
    v1::GraphSnapshot g;
    auto s = stub_->GetGraph(context().get(), req, &g);
    if (!s.ok()) return failed(s);
    if (tty) std::cout << "\033[H\033[2J";
    std::cout << fmt::format("{}  revision {}  window {}s  {} proxies\n",
                             TimeUtil::ToString(g.time()), g.policy_revision(), g.window_seconds(),
                             g.proxies_size())
              << edgeTable(g, false) << std::flush;
  }
  return 0;
}

int Ctl::fleet() {
  if (o_.fleet_action == "ls") {
    v1::ListProcessesResponse r;
    auto s = stub_->ListProcesses(context().get(), {}, &r);
    if (!s.ok()) return failed(s);
    Table t({"NAME", "ROLE", "STATE", "PID", "RESTARTS", "UPTIME", "CPU", "RSS", "PORTS"});
    for (const auto& p : r.processes()) {
      std::string ports;
      for (uint32_t port : p.ports()) ports += (ports.empty() ? "" : ",") + std::to_string(port);
      t.add({p.name(), p.role(), p.state(), std::to_string(p.pid()), std::to_string(p.restarts()),
             fmt::format("{:.0f}s", p.uptime_seconds()), fmt::format("{:.1f}%", p.cpu_percent()),
             fmt::format("{:.1f}MB", double(p.rss_bytes()) / 1e6), ports});
    }
    std::cout << t.str();
    if (r.processes_size() == 0) std::cout << "(this control plane runs no fleet)\n";
    return 0;
  }
  if (o_.fleet_action == "logs") {
    v1::GetProcessLogsRequest req;
    req.set_name(o_.process);
    req.set_tail(o_.tail);
    v1::GetProcessLogsResponse r;
    auto s = stub_->GetProcessLogs(context().get(), req, &r);
    if (!s.ok()) return failed(s);
    for (const auto& line : r.lines()) std::cout << line << "\n";
    return 0;
  }
  v1::FleetActionResponse r;
  grpc::Status s;
  if (o_.fleet_action == "restart") {
    v1::RestartProcessRequest req;
    req.set_name(o_.process);
    s = stub_->RestartProcess(context().get(), req, &r);
  } else {
    v1::ScaleServiceRequest req;
    req.set_service(o_.service);
    req.set_version(o_.version);
    req.set_replicas(o_.replicas);
    s = stub_->ScaleService(context().get(), req, &r);
  }
  if (!s.ok()) return failed(s);
  (r.ok() ? std::cout : std::cerr) << r.message() << "\n";
  return r.ok() ? 0 : 1;
}

}  // namespace meshdeck::tools
