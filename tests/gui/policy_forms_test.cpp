// The policy forms write YAML that the control plane's real parser and set validation accept,
// and that carries the values typed into the form. Runs against InProcessControlPlane (no
// network: an empty listen address) with the storefront's services registered.
#include "ui/policy_forms.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QPainter>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QTabWidget>
#include <QtTest>
#include <optional>
#include <variant>

#include "common/telemetry/grpc_status.h"
#include "controlplane/in_process_control_plane.h"
#include "controlplane/policy/policy_parser.h"
#include "support/fake_control_plane.h"
#include "ui/control_plane_client.h"
#include "ui/main_window.h"
#include "ui/policy_panel.h"
#include "ui/table_models.h"

using namespace meshdeck;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<cp::InProcessControlPlane> makeControlPlane() {
  cp::ControlPlaneOptions options;
  options.listen = "";  // no gRPC server
  options.secure_listen = "";
  auto plane = std::make_shared<cp::InProcessControlPlane>(options);
  for (const char* s : {"frontend", "catalog", "reviews", "ratings", "cart"}) {
    plane->registerService(s, "v1", "backend");
  }
  plane->registerService("reviews", "v2", "backend");
  return plane;
}

// Parses `yaml` with the control plane's parser; fails the test on any error.
std::vector<cp::Policy> parse(const QString& yaml) {
  std::vector<common::LocatedError> errors;
  auto policies = cp::parsePolicies(yaml.toStdString(), "form", &errors);
  for (const auto& e : errors) qWarning("%s", e.toString().c_str());
  if (!errors.empty()) return {};
  return policies;
}

// Applies `yaml` for real; returns "" or the errors.
QString applyTo(cp::ControlPlane& plane, const QString& yaml) {
  const cp::ApplyResult r = plane.applyPolicies(yaml.toStdString(), "form", "test", false);
  if (r.ok) return {};
  QStringList errors;
  for (const auto& e : r.errors) errors << QString::fromStdString(e.toString());
  return errors.join('\n') + "\n--- YAML ---\n" + yaml;
}

// A copy: the policies are often a temporary.
std::optional<cp::TrafficRouteSpec> trafficRoute(const std::vector<cp::Policy>& policies) {
  for (const auto& p : policies) {
    if (p.kind == cp::PolicyKind::kTrafficRoute) return std::get<cp::TrafficRouteSpec>(p.spec);
  }
  return std::nullopt;
}

void setService(ui::PolicyForm& form, const QString& service) {
  auto* box = form.findChild<QComboBox*>("service");
  QVERIFY(box != nullptr);
  box->setCurrentIndex(box->findText(service));
  QCOMPARE(box->currentText(), service);
}

std::vector<std::string> strings(const QStringList& list) {
  std::vector<std::string> out;
  for (const QString& s : list) out.push_back(s.toStdString());
  return out;
}

}  // namespace

class PolicyFormsTest : public QObject {
  Q_OBJECT

 private slots:
  void canarySplitIsAcceptedAndRoundTrips() {
    auto plane = makeControlPlane();
    ui::CanaryValues v{"reviews", "v1", "v2", 25, {}};
    const ui::PolicyFormResult r = ui::canaryYaml(v, plane->policies());
    QCOMPARE(applyTo(*plane, r.yaml), QString());
    const auto policies = parse(r.yaml);
    QCOMPARE(policies.size(), size_t(2));
    const auto& dp = std::get<cp::DestinationPolicySpec>(policies[0].spec);
    QCOMPARE(dp.host, std::string("reviews"));
    QCOMPARE(dp.subsets.size(), size_t(2));
    QCOMPARE(dp.subsets[0].version, std::string("v1"));
    QCOMPARE(dp.subsets[1].version, std::string("v2"));
    const auto tr = trafficRoute(policies);
    QVERIFY(tr.has_value());
    QCOMPARE(tr->http.size(), size_t(1));
    QCOMPARE(tr->http[0].destinations.size(), size_t(2));
    QCOMPARE(tr->http[0].destinations[0].subset, std::string("v1"));
    QCOMPARE(tr->http[0].destinations[0].weight, 75u);
    QCOMPARE(tr->http[0].destinations[1].subset, std::string("v2"));
    QCOMPARE(tr->http[0].destinations[1].weight, 25u);

    // Again with the first split in force: same names, so it replaces (no conflict).
    v.canary_weight = 50;
    const ui::PolicyFormResult again = ui::canaryYaml(v, plane->policies());
    QCOMPARE(applyTo(*plane, again.yaml), QString());
    QCOMPARE(plane->policies().size(), size_t(2));
    QCOMPARE(trafficRoute(parse(again.yaml))->http[0].destinations[1].weight, 50u);
  }

  // Only versions that run are offered; with one running version there is no canary to choose
  // and the form says why (issue 17, problem 1); with two, the defaults run and the weight is
  // small. The names follow cp::policyObjectName.
  void canaryFormOffersOnlyRunningVersions() {
    const QStringList services{"ratings", "recommendations", "reviews"};
    {
      ui::CanaryForm form(services, {{"reviews", {"v1"}}, {"recommendations", {"v1", "v2"}}});
      QCOMPARE(form.values().service, QString("reviews"));
      QCOMPARE(form.values().stable, QString("v1"));
      QCOMPARE(form.values().canary, QString());
      QCOMPARE(form.problem(),
               QString("reviews runs only v1: a canary needs a second version — scale one up in "
                       "Fleet."));
      // A version that does not run cannot be set.
      form.setValues({"reviews", "v1", "v2", 10, {}});
      QCOMPARE(form.values().canary, QString());
      QVERIFY(!form.problem().isEmpty());
      form.setValues({"recommendations", "", "", 5, {}});
      QCOMPARE(form.values().stable, QString("v1"));
      QCOMPARE(form.values().canary, QString("v2"));
      QVERIFY(form.values().canary_weight <= 10);
      QVERIFY(form.problem().isEmpty());
      form.setValues({"ratings", "", "", 5, {}});
      QVERIFY2(form.problem().contains("ratings has no running instance"),
               qPrintable(form.problem()));
    }
    const auto r = ui::canaryYaml({"recommendations", "v1", "v2", 5, {}}, {});
    const auto policies = parse(r.yaml);
    QCOMPARE(policies.size(), size_t(2));
    QCOMPARE(policies[0].name, std::string("recommendations-destination"));
    QCOMPARE(policies[1].name, std::string("recommendations-canary"));
  }

  void retriesAreAcceptedAndRoundTrip() {
    auto plane = makeControlPlane();
    ui::RetriesValues v;
    v.service = "ratings";
    v.path_prefix = "/api";
    v.attempts = 3;
    v.per_try_timeout_ms = 250;
    v.retry_on = {"gateway-error", "reset"};
    const auto r = ui::retriesYaml(v, plane->policies());
    QCOMPARE(applyTo(*plane, r.yaml), QString());
    const auto tr = trafficRoute(parse(r.yaml));
    QVERIFY(tr.has_value());
    QCOMPARE(tr->host, std::string("ratings"));
    QCOMPARE(tr->http.size(), size_t(1));
    const cp::HttpRoute& route = tr->http[0];
    QCOMPARE(route.matches.size(), size_t(1));
    QVERIFY(route.matches[0].uri.has_value());
    QCOMPARE(int(route.matches[0].uri->type), int(cp::StringMatch::Type::kPrefix));
    QCOMPARE(route.matches[0].uri->value, std::string("/api"));
    QVERIFY(route.retries.has_value());
    QCOMPARE(route.retries->attempts, 3u);
    QVERIFY(route.retries->per_try_timeout == cp::Nanos(250ms));
    QCOMPARE(route.retries->retry_on, strings(v.retry_on));
    QCOMPARE(route.destinations[0].host, std::string("ratings"));

    // No per-try timeout and no condition: both left out, the control plane's defaults apply.
    v.path_prefix.clear();
    v.per_try_timeout_ms = 0;
    v.retry_on.clear();
    const auto d = ui::retriesYaml(v, {});
    QVERIFY(!d.yaml.contains("perTryTimeout"));
    QCOMPARE(applyTo(*plane, d.yaml), QString());
    const auto defaults = trafficRoute(parse(d.yaml))->http[0].retries;
    QVERIFY(!defaults->per_try_timeout.has_value());
    QCOMPARE(defaults->retry_on, (std::vector<std::string>{"5xx", "connect-failure", "reset"}));
  }

  void timeoutIsAcceptedAndRoundTrips() {
    auto plane = makeControlPlane();
    const auto r = ui::timeoutYaml({"cart", "", 1500}, plane->policies());
    QVERIFY(r.yaml.contains("timeout: 1500ms"));
    QCOMPARE(applyTo(*plane, r.yaml), QString());
    const auto tr = trafficRoute(parse(r.yaml));
    QVERIFY(tr.has_value() && tr->http[0].timeout.has_value());
    QVERIFY(*tr->http[0].timeout == cp::Nanos(1500ms));
    QVERIFY(tr->http[0].matches.empty());
    const auto whole = ui::timeoutYaml({"cart", "", 3000}, {});
    QVERIFY(whole.yaml.contains("timeout: 3s"));
    QVERIFY(*trafficRoute(parse(whole.yaml))->http[0].timeout == cp::Nanos(3s));
  }

  void faultIsAcceptedAndRoundTrips() {
    auto plane = makeControlPlane();
    ui::FaultValues v;
    v.service = "ratings";
    v.delay = true;
    v.delay_percent = 12.5;
    v.delay_ms = 300;
    v.abort = true;
    v.abort_percent = 5;
    v.abort_status = 503;
    const auto r = ui::faultYaml(v, plane->policies());
    QCOMPARE(applyTo(*plane, r.yaml), QString());
    const auto tr = trafficRoute(parse(r.yaml));
    QVERIFY(tr.has_value() && tr->http[0].fault.has_value());
    const cp::FaultSpec& f = *tr->http[0].fault;
    QCOMPARE(f.delay_percent.value_or(-1), 12.5);
    QVERIFY(f.delay == cp::Nanos(300ms));
    QCOMPARE(f.abort_percent.value_or(-1), 5.0);
    QCOMPARE(f.abort_status, 503u);

    v.delay = false;  // abort only
    const auto a = ui::faultYaml(v, {});
    QVERIFY(!a.yaml.contains("delay"));
    QCOMPARE(applyTo(*plane, a.yaml), QString());
    QVERIFY(!trafficRoute(parse(a.yaml))->http[0].fault->delay_percent.has_value());
  }

  // Retries, a timeout and a fault on a service with a canary split: each is set on the split's
  // TrafficRoute, so the four applies all succeed and the split survives.
  void routeFormsCombineWithTheRouteInForce() {
    auto plane = makeControlPlane();
    QCOMPARE(applyTo(*plane, ui::canaryYaml({"reviews", "v1", "v2", 10, {}}, {}).yaml), QString());
    ui::RetriesValues retries;
    retries.service = "reviews";
    const auto r = ui::retriesYaml(retries, plane->policies());
    QVERIFY(r.summary.contains("reviews-canary"));
    QCOMPARE(applyTo(*plane, r.yaml), QString());
    QCOMPARE(applyTo(*plane, ui::timeoutYaml({"reviews", "", 800}, plane->policies()).yaml),
             QString());
    ui::FaultValues fault;
    fault.service = "reviews";
    const auto f = ui::faultYaml(fault, plane->policies());
    QCOMPARE(applyTo(*plane, f.yaml), QString());
    const auto tr = trafficRoute(parse(f.yaml));
    QVERIFY(tr.has_value());
    QCOMPARE(tr->http.size(), size_t(1));
    QCOMPARE(tr->http[0].destinations.size(), size_t(2));
    QCOMPARE(tr->http[0].destinations[1].weight, 10u);
    QCOMPARE(tr->http[0].retries->attempts, 2u);
    QVERIFY(*tr->http[0].timeout == cp::Nanos(800ms));
    QCOMPARE(tr->http[0].fault->delay_percent.value_or(-1), 10.0);
    // Still one TrafficRoute and one DestinationPolicy.
    QCOMPARE(plane->policies().size(), size_t(2));

    // And the canary form again keeps the retries, timeout and fault.
    const auto c = ui::canaryYaml({"reviews", "v1", "v2", 40, {}}, plane->policies());
    QCOMPARE(applyTo(*plane, c.yaml), QString());
    const auto after = trafficRoute(parse(c.yaml));
    QCOMPARE(after->http[0].destinations[1].weight, 40u);
    QVERIFY(after->http[0].retries.has_value() && after->http[0].fault.has_value());
  }

  // Issue 19: a gRPC status abort and the DestinationPolicy protocol, filled in through the
  // widgets as a person would, become YAML the parser accepts with those values, and a second
  // form loaded from what the parser read shows the same values.
  void grpcAbortFormRoundTripsThroughTheParser() {
    auto plane = makeControlPlane();
    const QStringList services{"cart", "ratings", "reviews"};
    ui::FaultForm form(services);
    auto* abort = form.findChild<QGroupBox*>("abort");
    auto* kind = form.findChild<QComboBox*>("abortKind");
    auto* http = form.findChild<QSpinBox*>("abortStatus");
    auto* grpc = form.findChild<QComboBox*>("abortGrpcStatus");
    auto* percent = form.findChild<QDoubleSpinBox*>("abortPercent");
    QVERIFY(abort && kind && http && grpc && percent);
    // 16 statuses, OK excluded; UNAVAILABLE by default; HTTP status until asked otherwise.
    QCOMPARE(grpc->count(), 16);
    QCOMPARE(grpc->itemText(0), QString("CANCELLED"));
    QCOMPARE(grpc->currentText(), QString("UNAVAILABLE"));
    setService(form, "ratings");
    abort->setChecked(true);
    QVERIFY(http->isEnabled() && !grpc->isEnabled());
    percent->setValue(20);
    QSignalSpy changed(&form, &ui::PolicyForm::changed);
    kind->setCurrentIndex(1);
    QVERIFY(!changed.isEmpty());
    QVERIFY(!http->isEnabled() && grpc->isEnabled());
    grpc->setCurrentText("DEADLINE_EXCEEDED");
    QCOMPARE(form.problem(), QString());

    const ui::PolicyFormResult r = form.result(plane->policies());
    QVERIFY2(r.yaml.contains("grpcStatus: DEADLINE_EXCEEDED"), qPrintable(r.yaml));
    QVERIFY2(!r.yaml.contains("httpStatus"), qPrintable(r.yaml));  // never both
    QCOMPARE(applyTo(*plane, r.yaml), QString());
    const auto tr = trafficRoute(parse(r.yaml));
    QVERIFY(tr.has_value() && tr->http[0].fault.has_value());
    const cp::FaultSpec& f = *tr->http[0].fault;
    QCOMPARE(f.abort_grpc_status.value_or(0), common::kGrpcDeadlineExceeded);
    QCOMPARE(f.abort_status, 0u);
    QCOMPARE(f.abort_percent.value_or(-1), 20.0);

    // Reload: the parsed fault into a fresh form gives the same values and the same YAML.
    ui::FaultValues reread;
    reread.service = QString::fromStdString(tr->host);
    reread.delay = f.delay_percent.has_value();
    if (f.delay_percent) reread.delay_percent = *f.delay_percent;
    reread.abort = f.abort_percent.has_value();
    reread.abort_percent = f.abort_percent.value_or(0);
    const std::string_view name = common::grpcStatusName(*f.abort_grpc_status);
    reread.abort_grpc_status = QString::fromLatin1(name.data(), qsizetype(name.size()));
    ui::FaultForm again(services);
    again.setValues(reread);
    QCOMPARE(again.findChild<QComboBox*>("abortKind")->currentIndex(), 1);
    const ui::FaultValues a = again.values(), b = form.values();
    QCOMPARE(a.service, b.service);
    QCOMPARE(a.delay, b.delay);
    QCOMPARE(a.abort, b.abort);
    QCOMPARE(a.abort_percent, b.abort_percent);
    QCOMPARE(a.abort_grpc_status, QString("DEADLINE_EXCEEDED"));
    QCOMPARE(b.abort_grpc_status, QString("DEADLINE_EXCEEDED"));
    QCOMPARE(again.result({}).yaml, form.result({}).yaml);

    // Back to an HTTP status: httpStatus only, and the gRPC name is dropped.
    kind->setCurrentIndex(0);
    http->setValue(429);
    const ui::FaultValues h = form.values();
    QVERIFY(h.abort_grpc_status.isEmpty());
    const auto hy = form.result({});
    QVERIFY(hy.yaml.contains("httpStatus: 429") && !hy.yaml.contains("grpcStatus"));
    QCOMPARE(trafficRoute(parse(hy.yaml))->http[0].fault->abort_status, 429u);
    // A lower-case name (the parser takes any case) loads as the upper-case entry.
    ui::FaultValues lower = h;
    lower.abort_grpc_status = "resource_exhausted";
    again.setValues(lower);
    QCOMPARE(again.values().abort_grpc_status, QString("RESOURCE_EXHAUSTED"));
  }

  // The gRPC retry conditions are ticked in their own row; the YAML names them, the parser
  // reads them and the form reloads them.
  void grpcRetryConditionsFromTheRetriesForm() {
    auto plane = makeControlPlane();
    ui::RetriesForm form({"cart", "ratings"});
    for (const char* c :
         {"cancelled", "deadline-exceeded", "internal", "resource-exhausted", "unavailable"})
      QVERIFY2(form.findChild<QCheckBox*>(QString("retryOn-") + c) != nullptr, c);
    for (auto* b : form.findChildren<QCheckBox*>()) b->setChecked(false);
    form.findChild<QCheckBox*>("retryOn-5xx")->setChecked(true);
    form.findChild<QCheckBox*>("retryOn-unavailable")->setChecked(true);
    const ui::PolicyFormResult r = form.result(plane->policies());
    QVERIFY2(r.yaml.contains("retryOn: 5xx,unavailable"), qPrintable(r.yaml));
    QCOMPARE(applyTo(*plane, r.yaml), QString());
    const auto tr = trafficRoute(parse(r.yaml));
    QVERIFY(tr.has_value() && tr->http[0].retries.has_value());
    QCOMPARE(tr->http[0].retries->retry_on, (std::vector<std::string>{"5xx", "unavailable"}));
    ui::RetriesForm again({"cart", "ratings"});
    again.setValues(form.values());
    QCOMPARE(again.values().retry_on, (QStringList{"5xx", "unavailable"}));
    QVERIFY(again.findChild<QCheckBox*>("retryOn-unavailable")->isChecked());
  }

  void protocolOfTheCanaryFormRoundTripsThroughTheParser() {
    auto plane = makeControlPlane();
    ui::CanaryForm form({"reviews"}, {{"reviews", {"v1", "v2"}}});
    auto* protocol = form.findChild<QComboBox*>("protocol");
    QVERIFY(protocol != nullptr);
    QCOMPARE(protocol->count(), 4);
    QCOMPARE(form.values().protocol, QString());  // as the sidecars declare
    QVERIFY(!form.result({}).yaml.contains("protocol"));
    QCOMPARE(parse(form.result({}).yaml).size(), size_t(2));
    QSignalSpy changed(&form, &ui::PolicyForm::changed);
    protocol->setCurrentIndex(protocol->findText("grpc"));
    QVERIFY(!changed.isEmpty());
    QCOMPARE(form.values().protocol, QString("grpc"));
    const ui::PolicyFormResult r = form.result(plane->policies());
    QVERIFY2(r.yaml.contains("protocol: grpc"), qPrintable(r.yaml));
    QCOMPARE(applyTo(*plane, r.yaml), QString());
    const auto policies = parse(r.yaml);
    QCOMPARE(policies.size(), size_t(2));
    const auto& dp = std::get<cp::DestinationPolicySpec>(policies[0].spec);
    QVERIFY(dp.protocol == cp::Protocol::kGrpc);

    // Reload from what the parser read.
    const QMap<cp::Protocol, QString> names{{cp::Protocol::kUnset, ""},
                                            {cp::Protocol::kHttp1, "http1"},
                                            {cp::Protocol::kHttp2, "http2"},
                                            {cp::Protocol::kGrpc, "grpc"}};
    ui::CanaryValues reread = form.values();
    reread.protocol = names.value(dp.protocol);
    ui::CanaryForm again({"reviews"}, {{"reviews", {"v1", "v2"}}});
    again.setValues(reread);
    QCOMPARE(again.values().protocol, QString("grpc"));
    QCOMPARE(again.result({}).yaml, form.result({}).yaml);

    // Empty keeps the protocol in force (the DestinationPolicy the form extends); another one
    // replaces it.
    ui::CanaryValues keep = form.values();
    keep.protocol.clear();
    keep.canary_weight = 30;
    const auto kept = ui::canaryYaml(keep, plane->policies());
    QCOMPARE(applyTo(*plane, kept.yaml), QString());
    QVERIFY(std::get<cp::DestinationPolicySpec>(parse(kept.yaml)[0].spec).protocol ==
            cp::Protocol::kGrpc);
    keep.protocol = "http2";
    const auto h2 = ui::canaryYaml(keep, plane->policies());
    QCOMPARE(applyTo(*plane, h2.yaml), QString());
    QVERIFY(std::get<cp::DestinationPolicySpec>(parse(h2.yaml)[0].spec).protocol ==
            cp::Protocol::kHttp2);
  }

  void mtlsModesAreAcceptedAndRoundTrip() {
    auto plane = makeControlPlane();
    const auto mesh = ui::mtlsYaml({"", "STRICT"}, plane->policies());
    QCOMPARE(applyTo(*plane, mesh.yaml), QString());
    const auto pm = parse(mesh.yaml);
    QCOMPARE(pm.size(), size_t(1));
    QCOMPARE(int(pm[0].kind), int(cp::PolicyKind::kPeerAuthentication));
    const auto& ms = std::get<cp::PeerAuthenticationSpec>(pm[0].spec);
    QVERIFY(ms.service.empty());
    QCOMPARE(int(ms.mode), int(cp::MtlsMode::kStrict));

    const auto svc = ui::mtlsYaml({"reviews", "PERMISSIVE"}, plane->policies());
    QCOMPARE(applyTo(*plane, svc.yaml), QString());
    const auto& ss = std::get<cp::PeerAuthenticationSpec>(parse(svc.yaml)[0].spec);
    QCOMPARE(ss.service, std::string("reviews"));
    QCOMPARE(int(ss.mode), int(cp::MtlsMode::kPermissive));

    // A mesh-wide PeerAuthentication under another name is in force: the form reuses its name
    // (a second mesh-wide one would be refused as a conflict).
    auto other = makeControlPlane();
    QCOMPARE(applyTo(*other,
                     "apiVersion: meshdeck.io/v1alpha1\nkind: PeerAuthentication\nmetadata:\n"
                     "  name: lock-down\nspec:\n  mtls: {mode: STRICT}\n"),
             QString());
    const auto disable = ui::mtlsYaml({"", "DISABLE"}, other->policies());
    QVERIFY(disable.yaml.contains("name: lock-down"));
    QCOMPARE(applyTo(*other, disable.yaml), QString());
    QCOMPARE(other->policies().size(), size_t(1));
    QCOMPARE(int(std::get<cp::PeerAuthenticationSpec>(parse(disable.yaml)[0].spec).mode),
             int(cp::MtlsMode::kDisable));
  }

  void allowDenyIsAcceptedAndRoundTrips() {
    auto plane = makeControlPlane();
    ui::AuthorizationValues v;
    v.service = "reviews";
    v.source_services = {"frontend", "catalog"};
    v.principals = {"meshdeck.local/ns/default/sa/ratings", "spiffe://meshdeck.local/ns/ops/*"};
    v.methods = {"GET", "HEAD"};
    v.paths = {"/reviews*", "/health"};
    v.dry_run = true;
    v.default_deny = true;
    const auto r = ui::authorizationYaml(v);
    QCOMPARE(applyTo(*plane, r.yaml), QString());
    const auto policies = parse(r.yaml);
    QCOMPARE(policies.size(), size_t(2));
    QCOMPARE(policies[0].name, std::string("reviews-allow"));
    const auto& a = std::get<cp::AuthorizationPolicySpec>(policies[0].spec);
    QCOMPARE(a.service, std::string("reviews"));
    QCOMPARE(int(a.action), int(cp::AuthorizationPolicySpec::Action::kAllow));
    QVERIFY(a.dry_run);
    QCOMPARE(a.rules.size(), size_t(1));
    QCOMPARE(a.rules[0].source_services, strings(v.source_services));
    QCOMPARE(a.rules[0].principals,
             (std::vector<std::string>{"spiffe://meshdeck.local/ns/default/sa/ratings",
                                       "spiffe://meshdeck.local/ns/ops/*"}));
    QCOMPARE(a.rules[0].methods.size(), size_t(1));
    QCOMPARE(a.rules[0].methods[0], strings(v.methods));
    QCOMPARE(a.rules[0].paths[0], strings(v.paths));
    // Default deny: an ALLOW policy with no rules on the same service.
    QCOMPARE(policies[1].name, std::string("reviews-allow-nothing"));
    const auto& nothing = std::get<cp::AuthorizationPolicySpec>(policies[1].spec);
    QCOMPARE(nothing.service, std::string("reviews"));
    QCOMPARE(int(nothing.action), int(cp::AuthorizationPolicySpec::Action::kAllow));
    QVERIFY(nothing.rules.empty());
    QVERIFY(!nothing.dry_run);

    // A mesh-wide DENY of one path, no dry run, no default deny.
    ui::AuthorizationValues d;
    d.deny = true;
    d.name = "no-admin";
    d.paths = {"/admin*"};
    const auto dr = ui::authorizationYaml(d);
    QVERIFY(!dr.yaml.contains("dryRun"));
    QCOMPARE(applyTo(*plane, dr.yaml), QString());
    const auto dp = parse(dr.yaml);
    QCOMPARE(dp.size(), size_t(1));
    QCOMPARE(dp[0].name, std::string("no-admin"));
    const auto& deny = std::get<cp::AuthorizationPolicySpec>(dp[0].spec);
    QVERIFY(deny.service.empty());
    QCOMPARE(int(deny.action), int(cp::AuthorizationPolicySpec::Action::kDeny));
    QVERIFY(deny.rules[0].source_services.empty() && deny.rules[0].principals.empty());
    QCOMPARE(deny.rules[0].paths[0], (std::vector<std::string>{"/admin*"}));

    // An unknown service is refused by the control plane (the form does not hide that).
    ui::AuthorizationValues typo = v;
    typo.service = "reveiws";
    QVERIFY(!applyTo(*plane, ui::authorizationYaml(typo).yaml).isEmpty());
  }

  // The widgets carry the values: setValues() then values() gives them back, and problem()
  // keeps OK disabled until the form makes sense.
  void formWidgetsRoundTripTheirValues() {
    const QStringList services{"cart", "ratings", "reviews"};
    {
      ui::CanaryForm form(services, {{"reviews", {"v1", "v2", "v3"}}});
      form.setValues({"reviews", "v2", "v3", 35, {}});
      const auto v = form.values();
      QCOMPARE(v.service, QString("reviews"));
      QCOMPARE(v.stable, QString("v2"));
      QCOMPARE(v.canary, QString("v3"));
      QCOMPARE(v.canary_weight, 35);
      QVERIFY(form.problem().isEmpty());
      form.setValues({"reviews", "v2", "v2", 35, {}});
      QVERIFY(!form.problem().isEmpty());
    }
    {
      ui::RetriesForm form(services);
      ui::RetriesValues in{"ratings", "/api", 4, 150, {"5xx", "reset"}};
      form.setValues(in);
      const auto v = form.values();
      QCOMPARE(v.service, in.service);
      QCOMPARE(v.path_prefix, in.path_prefix);
      QCOMPARE(v.attempts, 4);
      QCOMPARE(v.per_try_timeout_ms, 150);
      QCOMPARE(v.retry_on, in.retry_on);
      form.setValues({"ratings", "api", 1, 0, {}});
      QVERIFY(form.problem().contains("/"));
    }
    {
      ui::TimeoutForm form(services);
      form.setValues({"cart", "/checkout", 2500});
      QCOMPARE(form.values().timeout_ms, 2500);
      QCOMPARE(form.values().path_prefix, QString("/checkout"));
    }
    {
      ui::FaultForm form(services);
      ui::FaultValues in;
      in.service = "reviews";
      in.delay = false;
      in.abort = true;
      in.abort_percent = 7.5;
      in.abort_status = 429;
      form.setValues(in);
      const auto v = form.values();
      QVERIFY(!v.delay && v.abort);
      QCOMPARE(v.abort_percent, 7.5);
      QCOMPARE(v.abort_status, 429);
      in.abort = false;
      form.setValues(in);
      QVERIFY(!form.problem().isEmpty());
    }
    {
      ui::MtlsForm form(services);
      form.setValues({"", "PERMISSIVE"});
      QVERIFY(form.values().service.isEmpty());
      QCOMPARE(form.values().mode, QString("PERMISSIVE"));
      form.setValues({"cart", "DISABLE"});
      QCOMPARE(form.values().service, QString("cart"));
      QCOMPARE(form.values().mode, QString("DISABLE"));
    }
    {
      ui::AuthorizationForm form(services);
      ui::AuthorizationValues in;
      in.service = "reviews";
      in.source_services = {"cart", "ratings"};
      in.methods = {"GET", "DELETE"};
      in.paths = {"/a", "/b*"};
      in.dry_run = true;
      form.setValues(in);
      const auto v = form.values();
      QCOMPARE(v.service, in.service);
      QCOMPARE(v.source_services, in.source_services);
      QCOMPARE(v.methods, in.methods);
      QCOMPARE(v.paths, in.paths);
      QVERIFY(v.dry_run && !v.default_deny && !v.deny);
      in.paths = {"admin"};
      form.setValues(in);
      QVERIFY(!form.problem().isEmpty());
    }
  }

  // End to end through the panel: Forms > Retries, typed into the widgets, written to the
  // editor, applied through the usual path into the real control plane.
  void screenshotOfAFormOverTheWindow();

  void panelFormFillsEditorAndApplies() {
    auto plane = makeControlPlane();
    ui::ControlPlaneClient client(plane, false);
    ui::PolicyPanel panel(&client);
    panel.resize(420, 700);
    panel.show();
    panel.showForm(ui::PolicyFormKind::kRetries);
    auto* dialog = panel.findChild<ui::PolicyFormDialog*>();
    QVERIFY(dialog != nullptr);
    QVERIFY(dialog->isVisible());
    auto* service = dialog->findChild<QComboBox*>("service");
    auto* attempts = dialog->findChild<QSpinBox*>("attempts");
    auto* per_try = dialog->findChild<QSpinBox*>("perTryTimeout");
    auto* prefix = dialog->findChild<QLineEdit*>("pathPrefix");
    auto* gateway = dialog->findChild<QCheckBox*>("retryOn-gateway-error");
    QVERIFY(service && attempts && per_try && prefix && gateway);
    service->setEditText("ratings");
    attempts->setValue(5);
    per_try->setValue(400);
    QTest::keyClicks(prefix, "/api");
    gateway->setChecked(true);
    QVERIFY(dialog->preview()->toPlainText().contains("attempts: 5"));
    QVERIFY(dialog->preview()->toPlainText().contains("gateway-error"));
    // A bad prefix disables OK and says why.
    prefix->setText("api");
    QVERIFY(!dialog->buttons()->button(QDialogButtonBox::Ok)->isEnabled());
    prefix->setText("/api");
    QVERIFY(dialog->buttons()->button(QDialogButtonBox::Ok)->isEnabled());
    QTest::mouseClick(dialog->buttons()->button(QDialogButtonBox::Ok), Qt::LeftButton);
    const QString yaml = panel.editor()->toPlainText();
    QVERIFY(yaml.contains("kind: TrafficRoute"));
    QVERIFY(yaml.contains("name: ratings-retries"));
    QVERIFY(yaml.contains("perTryTimeout: 400ms"));
    QVERIFY(panel.statusLabel()->text().contains("Retries"));
    QCOMPARE(plane->policies().size(), size_t(0));  // written, not applied
    panel.apply();
    QTRY_VERIFY_WITH_TIMEOUT(panel.statusLabel()->text().contains("Applied as revision"), 10000);
    const auto in_force = plane->policies();
    QCOMPARE(in_force.size(), size_t(1));
    QCOMPARE(in_force[0].name, std::string("ratings-retries"));
    const auto retries = trafficRoute(parse(QString::fromStdString(in_force[0].yaml)))->http[0];
    QCOMPARE(retries.retries->attempts, 5u);
    QVERIFY(retries.retries->per_try_timeout == cp::Nanos(400ms));
    QCOMPARE(retries.retries->retry_on,
             (std::vector<std::string>{"5xx", "gateway-error", "connect-failure"}));
    QTRY_COMPARE_WITH_TIMEOUT(panel.model()->rowCount(), 1, 10000);

    // The next form (timeout) extends the TrafficRoute now in force instead of conflicting.
    panel.showForm(ui::PolicyFormKind::kTimeout);
    ui::PolicyFormDialog* timeout_dialog = nullptr;
    for (auto* d : panel.findChildren<ui::PolicyFormDialog*>()) {
      if (d->kind() == ui::PolicyFormKind::kTimeout) timeout_dialog = d;
    }
    QVERIFY(timeout_dialog != nullptr);
    auto* form = qobject_cast<ui::TimeoutForm*>(timeout_dialog->form());
    QVERIFY(form != nullptr);
    form->setValues({"ratings", "", 1200});
    timeout_dialog->accept();
    panel.apply();
    QTRY_VERIFY_WITH_TIMEOUT(panel.statusLabel()->text().contains("Applied as revision 2"), 10000);
    const auto both =
        trafficRoute(parse(QString::fromStdString(plane->policies()[0].yaml)))->http[0];
    QVERIFY(both.timeout.has_value() && *both.timeout == cp::Nanos(1200ms));
    QCOMPARE(both.retries->attempts, 5u);
    client.waitForIdle();
  }
};

// What the docs show: the allow/deny form over the window, the editor behind it holding the
// YAML the form wrote (the form's values reach the editor of the window). The picture is saved
// only with MESHDECK_SCREENSHOT_DIR.
void PolicyFormsTest::screenshotOfAFormOverTheWindow() {
  const QString dir = qEnvironmentVariable("MESHDECK_SCREENSHOT_DIR");
  ui::MainWindowOptions options;
  options.source = "Fake control plane";
  options.use_settings = false;
  ui::MainWindow window(std::make_shared<testing::FakeControlPlane>(), options);
  window.resize(1440, 900);
  window.show();
  QVERIFY(QTest::qWaitForWindowExposed(&window));
  window.sidePanel()->setCurrentWidget(window.policyPanel());
  if (auto* dock = window.findChild<QDockWidget*>("meshDock"))
    window.resizeDocks({dock}, {540}, Qt::Horizontal);
  QTRY_VERIFY_WITH_TIMEOUT(!window.client()->latest()->services.empty(), 5000);
  window.policyPanel()->showForm(ui::PolicyFormKind::kAuthorization);
  ui::PolicyFormDialog* dialog = window.policyPanel()->findChild<ui::PolicyFormDialog*>();
  QVERIFY(dialog != nullptr);
  auto* form = qobject_cast<ui::AuthorizationForm*>(dialog->form());
  QVERIFY(form != nullptr);
  ui::AuthorizationValues v;
  v.service = "reviews";
  v.source_services = {"catalog"};
  v.methods = {"GET", "HEAD"};
  v.paths = {"/reviews*"};
  v.default_deny = true;
  form->setValues(v);
  QTest::qWait(200);
  const QPixmap dialog_picture = dialog->grab();
  QTest::mouseClick(dialog->buttons()->button(QDialogButtonBox::Ok), Qt::LeftButton);
  const QString yaml = window.policyPanel()->editor()->toPlainText();
  QVERIFY(yaml.contains("name: reviews-allow-nothing"));
  QVERIFY(yaml.contains("- catalog") && yaml.contains("/reviews*"));
  QTest::qWait(300);
  QPixmap picture = window.grab();
  {
    QPainter painter(&picture);
    const QPoint at(picture.width() - dialog_picture.width() - 40, 80);
    painter.fillRect(QRect(at + QPoint(4, 4), dialog_picture.size()), QColor(0, 0, 0, 60));
    painter.drawPixmap(at, dialog_picture);
    painter.setPen(QColor(0x80, 0x80, 0x80));
    painter.drawRect(QRect(at, dialog_picture.size()).adjusted(0, 0, -1, -1));
  }
  if (!dir.isEmpty()) QVERIFY(picture.save(dir + "/policy-form-allow-deny.png"));
  window.client()->waitForIdle();
}

QTEST_MAIN(PolicyFormsTest)
#include "policy_forms_test.moc"
