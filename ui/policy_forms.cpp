#include "ui/policy_forms.h"

#include <yaml-cpp/yaml.h>

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFontDatabase>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRadioButton>
#include <QRegularExpression>
#include <QSlider>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>
#include <algorithm>
#include <optional>

#include "common/telemetry/grpc_status.h"
#include "common/yaml/yaml_input.h"
#include "controlplane/api/policy_names.h"
#include "ui/yaml_highlighter.h"

namespace meshdeck::ui {
namespace {

const QStringList kRetryConditions{QStringLiteral("5xx"), QStringLiteral("gateway-error"),
                                   QStringLiteral("connect-failure"), QStringLiteral("reset")};
// For gRPC callers: the status of a trailers-only answer (docs/policies.md, retryOn).
const QStringList kGrpcRetryConditions{
    QStringLiteral("cancelled"), QStringLiteral("deadline-exceeded"), QStringLiteral("internal"),
    QStringLiteral("resource-exhausted"), QStringLiteral("unavailable")};
const QStringList kMethods{QStringLiteral("GET"),    QStringLiteral("HEAD"),
                           QStringLiteral("POST"),   QStringLiteral("PUT"),
                           QStringLiteral("PATCH"),  QStringLiteral("DELETE"),
                           QStringLiteral("OPTIONS")};

std::string str(const QString& s) { return s.toStdString(); }

// DestinationPolicy trafficPolicy.protocol values (docs/policies.md); "" leaves it out.
const QStringList kProtocols{QString(), QStringLiteral("http1"), QStringLiteral("http2"),
                             QStringLiteral("grpc")};

// The statuses a gRPC abort can answer with: every one but OK (docs/policies.md).
QStringList grpcAbortStatusNames() {
  QStringList names;
  for (uint32_t code = 1; code < common::kGrpcStatusCount; ++code) {
    const std::string_view name = common::grpcStatusName(code);
    names << QString::fromLatin1(name.data(), qsizetype(name.size()));
  }
  return names;
}

// "2s" when whole seconds, else "250ms": what a person would write.
std::string duration(int ms) {
  if (ms > 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string number(double v) { return QString::number(v, 'g', 10).toStdString(); }

YAML::Node envelope(const char* kind, const QString& name) {
  YAML::Node doc;
  doc["apiVersion"] = "meshdeck.io/v1alpha1";
  doc["kind"] = kind;
  doc["metadata"]["name"] = str(name);
  return doc;
}

QString emitDocuments(const std::vector<YAML::Node>& docs) {
  QString out;
  for (size_t i = 0; i < docs.size(); ++i) {
    YAML::Emitter e;
    e.SetIndent(2);
    e << docs[i];
    if (i > 0) out += QStringLiteral("---\n");
    out += QString::fromUtf8(e.c_str()) + QLatin1Char('\n');
  }
  return out;
}

// The first policy of `kind` in force (in the control plane's order) whose spec names `service`
// under `field` ("host") or under selector.service; empty `service` matches a policy without a
// selector.
struct Existing {
  QString name;
  YAML::Node doc;
};
std::optional<Existing> findExisting(const std::vector<cp::PolicyInfo>& existing, const char* kind,
                                     const QString& service, bool by_host) {
  for (const auto& p : existing) {
    if (p.kind != kind) continue;
    // The text comes from a control plane, possibly remote: read it with the limits too.
    const common::YamlDocuments loaded = common::loadYaml(p.yaml, p.kind + "/" + p.name);
    if (!loaded.ok()) continue;
    try {
      YAML::Node doc = loaded.first();
      const YAML::Node spec = doc["spec"];
      if (!spec.IsMap()) continue;
      std::string named;
      if (by_host) {
        if (spec["host"] && spec["host"].IsScalar()) named = spec["host"].Scalar();
      } else if (spec["selector"] && spec["selector"].IsMap() && spec["selector"]["service"] &&
                 spec["selector"]["service"].IsScalar()) {
        named = spec["selector"]["service"].Scalar();
      }
      if (named == str(service)) return Existing{QString::fromStdString(p.name), doc};
    } catch (const YAML::Exception&) {
      continue;  // not ours to judge: the control plane accepted it
    }
  }
  return std::nullopt;
}

// The name of a policy the form writes (cp::policyObjectName: the scheme scenarios follow too).
QString objectName(const QString& service, const char* purpose) {
  return QString::fromStdString(cp::policyObjectName(service.toStdString(), purpose));
}

YAML::Node destination(const QString& host, const QString& subset) {
  YAML::Node d;
  d["destination"]["host"] = str(host);
  if (!subset.isEmpty()) d["destination"]["subset"] = str(subset);
  return d;
}

// Sets `key` = `section` on the routes of the TrafficRoute in force for the service (see
// RetriesValues), or writes a new TrafficRoute.
PolicyFormResult routeSection(const QString& service, const QString& prefix, const char* purpose,
                              const char* key, const YAML::Node& section, const QString& what,
                              const std::vector<cp::PolicyInfo>& existing) {
  if (prefix.isEmpty()) {
    if (auto found = findExisting(existing, "TrafficRoute", service, true)) {
      YAML::Node http = found->doc["spec"]["http"];
      if (http.IsSequence() && http.size() > 0) {
        for (auto route : http) {
          if (route.IsMap()) route[key] = YAML::Clone(section);
        }
        return {emitDocuments({found->doc}),
                QObject::tr("%1 set on every route of TrafficRoute/%2 (in force): review, then "
                            "Validate or Apply.")
                    .arg(what, found->name)};
      }
    }
  }
  YAML::Node doc = envelope("TrafficRoute", objectName(service, purpose));
  doc["spec"]["host"] = str(service);
  YAML::Node route;
  if (!prefix.isEmpty()) {
    YAML::Node match;
    match["uri"]["prefix"] = str(prefix);
    route["match"].push_back(match);
  }
  route["route"].push_back(destination(service, {}));
  route[key] = YAML::Clone(section);
  doc["spec"]["http"].push_back(route);
  return {emitDocuments({doc}),
          QObject::tr("%1 for %2 written: review, then Validate or Apply.").arg(what, service)};
}

QStringList splitList(const QString& text) {
  QStringList out;
  for (const QString& part :
       text.split(QRegularExpression(QStringLiteral("[,\\s]+")), Qt::SkipEmptyParts)) {
    out << part.trimmed();
  }
  return out;
}

QComboBox* serviceBox(const QStringList& services, QWidget* parent) {
  auto* box = new QComboBox(parent);
  box->setEditable(true);
  box->addItems(services);
  box->setObjectName(QStringLiteral("service"));
  return box;
}

QLineEdit* prefixEdit(QWidget* parent) {
  auto* e = new QLineEdit(parent);
  e->setObjectName(QStringLiteral("pathPrefix"));
  e->setPlaceholderText(QObject::tr("every request (optional: /api)"));
  return e;
}

QString routeProblem(const QString& service, const QString& prefix) {
  if (service.trimmed().isEmpty()) return QObject::tr("Choose a service.");
  if (!prefix.isEmpty() && !prefix.startsWith(QLatin1Char('/')))
    return QObject::tr("A path prefix starts with '/'.");
  return {};
}

void setService(QComboBox* box, const QString& service) {
  const int i = box->findText(service);
  if (i >= 0)
    box->setCurrentIndex(i);
  else
    box->setEditText(service);
}

}  // namespace

QString displayName(PolicyFormKind kind) {
  switch (kind) {
    case PolicyFormKind::kCanary:
      return QObject::tr("Canary split");
    case PolicyFormKind::kRetries:
      return QObject::tr("Retries");
    case PolicyFormKind::kTimeout:
      return QObject::tr("Timeout");
    case PolicyFormKind::kFault:
      return QObject::tr("Fault injection");
    case PolicyFormKind::kMtls:
      return QObject::tr("Mutual TLS");
    case PolicyFormKind::kAuthorization:
      return QObject::tr("Allow / deny");
  }
  return {};
}

// --- YAML -------------------------------------------------------------------------------------

PolicyFormResult canaryYaml(const CanaryValues& v, const std::vector<cp::PolicyInfo>& existing) {
  // Subsets are declared by the DestinationPolicy of the host: the one in force gains the
  // missing versions (a second one for the host would conflict), or a new one is written.
  YAML::Node dp;
  QString stable_subset = v.stable, canary_subset = v.canary;
  if (auto found = findExisting(existing, "DestinationPolicy", v.service, true)) {
    dp = found->doc;
  } else {
    dp = envelope("DestinationPolicy", objectName(v.service, cp::purpose::kDestination));
    dp["spec"]["host"] = str(v.service);
  }
  if (!v.protocol.isEmpty()) dp["spec"]["trafficPolicy"]["protocol"] = str(v.protocol);
  YAML::Node subsets = dp["spec"]["subsets"];
  auto subsetFor = [&subsets](const QString& version) -> QString {
    if (subsets.IsSequence()) {
      for (const auto& s : subsets) {
        if (s.IsMap() && s["labels"] && s["labels"].IsMap() && s["labels"]["version"] &&
            s["labels"]["version"].IsScalar() && s["labels"]["version"].Scalar() == str(version) &&
            s["name"] && s["name"].IsScalar())
          return QString::fromStdString(s["name"].Scalar());
      }
    }
    YAML::Node s;
    s["name"] = str(version);
    s["labels"]["version"] = str(version);
    subsets.push_back(s);
    return version;
  };
  stable_subset = subsetFor(v.stable);
  canary_subset = subsetFor(v.canary);

  YAML::Node split;
  YAML::Node a = destination(v.service, stable_subset), b = destination(v.service, canary_subset);
  a["weight"] = 100 - v.canary_weight;
  b["weight"] = v.canary_weight;
  split.push_back(a);
  split.push_back(b);

  // The split goes on the catch-all routes of the TrafficRoute in force for the host (keeping
  // its retries, timeouts and matched routes); without one, a new TrafficRoute.
  YAML::Node tr;
  bool placed = false;
  if (auto found = findExisting(existing, "TrafficRoute", v.service, true)) {
    tr = found->doc;
    YAML::Node http = tr["spec"]["http"];
    if (http.IsSequence()) {
      for (auto route : http) {
        if (route.IsMap() && !route["match"]) {
          route["route"] = YAML::Clone(split);
          placed = true;
        }
      }
      if (!placed) {
        YAML::Node route;
        route["route"] = split;
        http.push_back(route);
        placed = true;
      }
    }
  }
  if (!placed) {
    tr = envelope("TrafficRoute", objectName(v.service, cp::purpose::kCanary));
    tr["spec"]["host"] = str(v.service);
    YAML::Node route;
    route["route"] = split;
    tr["spec"]["http"].push_back(route);
  }
  return {emitDocuments({dp, tr}),
          QObject::tr("Canary split for %1 written (%2 % to %3): review, then Validate or Apply.")
              .arg(v.service)
              .arg(v.canary_weight)
              .arg(v.canary)};
}

PolicyFormResult retriesYaml(const RetriesValues& v, const std::vector<cp::PolicyInfo>& existing) {
  YAML::Node retries;
  retries["attempts"] = v.attempts;
  if (v.per_try_timeout_ms > 0) retries["perTryTimeout"] = duration(v.per_try_timeout_ms);
  if (!v.retry_on.isEmpty()) retries["retryOn"] = str(v.retry_on.join(QLatin1Char(',')));
  return routeSection(v.service, v.path_prefix, cp::purpose::kRetries, "retries", retries,
                      QObject::tr("Retries"), existing);
}

PolicyFormResult timeoutYaml(const TimeoutValues& v, const std::vector<cp::PolicyInfo>& existing) {
  return routeSection(v.service, v.path_prefix, cp::purpose::kTimeout, "timeout",
                      YAML::Node(duration(v.timeout_ms)), QObject::tr("A timeout"), existing);
}

PolicyFormResult faultYaml(const FaultValues& v, const std::vector<cp::PolicyInfo>& existing) {
  YAML::Node fault;
  if (v.delay) {
    fault["delay"]["percentage"] = number(v.delay_percent);
    fault["delay"]["fixedDelay"] = duration(v.delay_ms);
  }
  if (v.abort) {
    fault["abort"]["percentage"] = number(v.abort_percent);
    // One or the other: the parser refuses both.
    if (v.abort_grpc_status.isEmpty())
      fault["abort"]["httpStatus"] = v.abort_status;
    else
      fault["abort"]["grpcStatus"] = str(v.abort_grpc_status);
  }
  return routeSection(v.service, v.path_prefix, cp::purpose::kFault, "fault", fault,
                      QObject::tr("Fault injection"), existing);
}

PolicyFormResult mtlsYaml(const MtlsValues& v, const std::vector<cp::PolicyInfo>& existing) {
  QString name = objectName(v.service, cp::purpose::kMtls);
  if (auto found = findExisting(existing, "PeerAuthentication", v.service, false))
    name = found->name;
  YAML::Node doc = envelope("PeerAuthentication", name);
  if (!v.service.isEmpty()) doc["spec"]["selector"]["service"] = str(v.service);
  doc["spec"]["mtls"]["mode"] = str(v.mode);
  const QString scope = v.service.isEmpty() ? QObject::tr("the whole mesh")
                                            : QObject::tr("service %1").arg(v.service);
  return {emitDocuments({doc}), QObject::tr("mTLS %1 for %2 written: review, then Validate or "
                                            "Apply.")
                                    .arg(v.mode, scope)};
}

PolicyFormResult authorizationYaml(const AuthorizationValues& v) {
  QString name = v.name.trimmed();
  if (name.isEmpty())
    name = objectName(v.service, v.deny ? cp::purpose::kDeny : cp::purpose::kAllow);
  std::vector<YAML::Node> docs;
  YAML::Node doc = envelope("AuthorizationPolicy", name);
  if (!v.service.isEmpty()) doc["spec"]["selector"]["service"] = str(v.service);
  doc["spec"]["action"] = v.deny ? "DENY" : "ALLOW";
  if (v.dry_run) doc["spec"]["dryRun"] = true;
  YAML::Node rule(YAML::NodeType::Map);
  if (!v.source_services.isEmpty() || !v.principals.isEmpty()) {
    YAML::Node source;
    for (const QString& p : v.principals) source["source"]["principals"].push_back(str(p));
    for (const QString& s : v.source_services) source["source"]["services"].push_back(str(s));
    rule["from"].push_back(source);
  }
  if (!v.methods.isEmpty() || !v.paths.isEmpty()) {
    YAML::Node operation;
    for (const QString& m : v.methods) operation["operation"]["methods"].push_back(str(m));
    for (const QString& p : v.paths) operation["operation"]["paths"].push_back(str(p));
    rule["to"].push_back(operation);
  }
  doc["spec"]["rules"].push_back(rule);
  docs.push_back(doc);
  if (v.default_deny) {
    // Istio's "allow-nothing": an ALLOW policy without rules selects the service, so a request
    // no ALLOW rule names is refused.
    YAML::Node nothing =
        envelope("AuthorizationPolicy", objectName(v.service, cp::purpose::kAllowNothing));
    if (!v.service.isEmpty()) nothing["spec"]["selector"]["service"] = str(v.service);
    nothing["spec"]["action"] = "ALLOW";
    docs.push_back(nothing);
  }
  return {emitDocuments(docs),
          QObject::tr("%1 rule for %2 written%3: review, then Validate or Apply.")
              .arg(v.deny ? QStringLiteral("DENY") : QStringLiteral("ALLOW"),
                   v.service.isEmpty() ? QObject::tr("every service") : v.service,
                   v.default_deny ? QObject::tr(" with default deny") : QString())};
}

// --- Forms ------------------------------------------------------------------------------------

CanaryForm::CanaryForm(const QStringList& services, const QMap<QString, QStringList>& versions,
                       QWidget* parent)
    : PolicyForm(parent), versions_(versions) {
  auto* form = new QFormLayout(this);
  service_ = serviceBox(services, this);
  // Not editable: only a version that runs can take traffic.
  stable_ = new QComboBox(this);
  stable_->setObjectName(QStringLiteral("stable"));
  canary_ = new QComboBox(this);
  canary_->setObjectName(QStringLiteral("canary"));
  weight_ = new QSlider(Qt::Horizontal, this);
  weight_->setObjectName(QStringLiteral("weight"));
  weight_->setRange(0, 100);
  weight_->setValue(CanaryValues{}.canary_weight);
  share_ = new QLabel(this);
  protocol_ = new QComboBox(this);
  protocol_->setObjectName(QStringLiteral("protocol"));
  for (const QString& p : kProtocols)
    protocol_->addItem(p.isEmpty() ? tr("as the sidecars declare") : p, p);
  protocol_->setToolTip(
      tr("What the service's workloads speak (trafficPolicy.protocol of its "
         "DestinationPolicy). grpc also makes the proxies answer gRPC errors as gRPC."));
  form->addRow(tr("Service"), service_);
  form->addRow(tr("Stable version"), stable_);
  form->addRow(tr("Canary version"), canary_);
  form->addRow(tr("Canary weight"), weight_);
  form->addRow(QString(), share_);
  form->addRow(tr("Protocol"), protocol_);
  auto fill_versions = [this] {
    const QStringList vs = versions_.value(service_->currentText().trimmed());
    for (QComboBox* b : {stable_, canary_}) {
      const QSignalBlocker quiet(b);
      b->clear();
      b->addItems(vs);
    }
    // Defaults that run: the first version stable, the last other one the canary; none when
    // there is no other one.
    stable_->setCurrentIndex(vs.isEmpty() ? -1 : 0);
    canary_->setCurrentIndex(vs.size() >= 2 ? int(vs.size()) - 1 : -1);
    stable_->setEnabled(!vs.isEmpty());
    canary_->setEnabled(vs.size() >= 2);
    weight_->setEnabled(vs.size() >= 2);
  };
  connect(service_, &QComboBox::currentTextChanged, this, [this, fill_versions] {
    fill_versions();
    emit changed();
  });
  for (QComboBox* b : {stable_, canary_, protocol_})
    connect(b, &QComboBox::currentTextChanged, this, &PolicyForm::changed);
  connect(weight_, &QSlider::valueChanged, this, [this] {
    share_->setText(
        tr("%1 % to the canary, %2 % stable").arg(weight_->value()).arg(100 - weight_->value()));
    emit changed();
  });
  if (!services.contains(QStringLiteral("reviews")) && !services.isEmpty())
    setService(service_, services.front());
  else
    setService(service_, CanaryValues{}.service);
  fill_versions();
  share_->setText(
      tr("%1 % to the canary, %2 % stable").arg(weight_->value()).arg(100 - weight_->value()));
}

CanaryValues CanaryForm::values() const {
  return {service_->currentText().trimmed(), stable_->currentText().trimmed(),
          canary_->currentText().trimmed(), weight_->value(), protocol_->currentData().toString()};
}

void CanaryForm::setValues(const CanaryValues& v) {
  setService(service_, v.service);
  // Only versions that run can be chosen; another one leaves the default in place.
  if (const int i = stable_->findText(v.stable); i >= 0) stable_->setCurrentIndex(i);
  if (const int i = canary_->findText(v.canary); i >= 0) canary_->setCurrentIndex(i);
  weight_->setValue(v.canary_weight);
  protocol_->setCurrentIndex(std::max(0, protocol_->findData(v.protocol.toLower())));
  share_->setText(
      tr("%1 % to the canary, %2 % stable").arg(weight_->value()).arg(100 - weight_->value()));
}

QString CanaryForm::problem() const {
  const CanaryValues v = values();
  if (v.service.isEmpty()) return tr("Choose a service.");
  const QStringList running = versions_.value(v.service);
  if (running.isEmpty())
    return tr("%1 has no running instance: a canary needs two running versions — start it in "
              "Fleet.")
        .arg(v.service);
  if (running.size() == 1)
    return tr("%1 runs only %2: a canary needs a second version — scale one up in Fleet.")
        .arg(v.service, running.front());
  if (v.stable.isEmpty() || v.canary.isEmpty()) return tr("Choose both versions.");
  if (v.stable == v.canary) return tr("The canary must be another version than the stable one.");
  for (const QString& version : {v.stable, v.canary}) {
    if (!running.contains(version))
      return tr("%1 %2 does not run: choose a running version.").arg(v.service, version);
  }
  return {};
}

PolicyFormResult CanaryForm::result(const std::vector<cp::PolicyInfo>& existing) const {
  return canaryYaml(values(), existing);
}

RetriesForm::RetriesForm(const QStringList& services, QWidget* parent) : PolicyForm(parent) {
  auto* form = new QFormLayout(this);
  service_ = serviceBox(services, this);
  prefix_ = prefixEdit(this);
  attempts_ = new QSpinBox(this);
  attempts_->setObjectName(QStringLiteral("attempts"));
  attempts_->setRange(0, 10);
  attempts_->setToolTip(tr("Retries after the first attempt"));
  per_try_ = new QSpinBox(this);
  per_try_->setObjectName(QStringLiteral("perTryTimeout"));
  per_try_->setRange(0, 600000);
  per_try_->setSingleStep(50);
  per_try_->setSuffix(tr(" ms"));
  per_try_->setSpecialValueText(tr("none"));
  auto conditions = [this](const QStringList& names) {
    auto* on = new QWidget(this);
    auto* onl = new QHBoxLayout(on);
    onl->setContentsMargins(0, 0, 0, 0);
    for (const QString& c : names) {
      auto* box = new QCheckBox(c, on);
      box->setObjectName(QStringLiteral("retryOn-") + c);
      onl->addWidget(box);
      retry_on_ << box;
      connect(box, &QCheckBox::toggled, this, &PolicyForm::changed);
    }
    onl->addStretch();
    return on;
  };
  form->addRow(tr("Service"), service_);
  form->addRow(tr("Path prefix"), prefix_);
  form->addRow(tr("Attempts"), attempts_);
  form->addRow(tr("Per-try timeout"), per_try_);
  form->addRow(tr("Retry on"), conditions(kRetryConditions));
  form->addRow(tr("Retry on (gRPC)"), conditions(kGrpcRetryConditions));
  auto* hint = new QLabel(tr("None ticked: 5xx, connect-failure and reset."), this);
  hint->setEnabled(false);
  form->addRow(QString(), hint);
  connect(service_, &QComboBox::currentTextChanged, this, &PolicyForm::changed);
  connect(prefix_, &QLineEdit::textChanged, this, &PolicyForm::changed);
  connect(attempts_, &QSpinBox::valueChanged, this, &PolicyForm::changed);
  connect(per_try_, &QSpinBox::valueChanged, this, &PolicyForm::changed);
  RetriesValues defaults;
  defaults.service = services.value(0);
  setValues(defaults);
}

RetriesValues RetriesForm::values() const {
  RetriesValues v;
  v.service = service_->currentText().trimmed();
  v.path_prefix = prefix_->text().trimmed();
  v.attempts = attempts_->value();
  v.per_try_timeout_ms = per_try_->value();
  v.retry_on.clear();
  for (QCheckBox* b : retry_on_) {
    if (b->isChecked()) v.retry_on << b->text();
  }
  return v;
}

void RetriesForm::setValues(const RetriesValues& v) {
  setService(service_, v.service);
  prefix_->setText(v.path_prefix);
  attempts_->setValue(v.attempts);
  per_try_->setValue(v.per_try_timeout_ms);
  for (QCheckBox* b : retry_on_) b->setChecked(v.retry_on.contains(b->text()));
}

QString RetriesForm::problem() const {
  return routeProblem(service_->currentText(), prefix_->text());
}

PolicyFormResult RetriesForm::result(const std::vector<cp::PolicyInfo>& existing) const {
  return retriesYaml(values(), existing);
}

TimeoutForm::TimeoutForm(const QStringList& services, QWidget* parent) : PolicyForm(parent) {
  auto* form = new QFormLayout(this);
  service_ = serviceBox(services, this);
  prefix_ = prefixEdit(this);
  timeout_ = new QSpinBox(this);
  timeout_->setObjectName(QStringLiteral("timeout"));
  timeout_->setRange(1, 3600000);
  timeout_->setSingleStep(100);
  timeout_->setSuffix(tr(" ms"));
  form->addRow(tr("Service"), service_);
  form->addRow(tr("Path prefix"), prefix_);
  form->addRow(tr("Timeout"), timeout_);
  auto* hint = new QLabel(tr("The whole request, retries included."), this);
  hint->setEnabled(false);
  form->addRow(QString(), hint);
  connect(service_, &QComboBox::currentTextChanged, this, &PolicyForm::changed);
  connect(prefix_, &QLineEdit::textChanged, this, &PolicyForm::changed);
  connect(timeout_, &QSpinBox::valueChanged, this, &PolicyForm::changed);
  TimeoutValues defaults;
  defaults.service = services.value(0);
  setValues(defaults);
}

TimeoutValues TimeoutForm::values() const {
  return {service_->currentText().trimmed(), prefix_->text().trimmed(), timeout_->value()};
}

void TimeoutForm::setValues(const TimeoutValues& v) {
  setService(service_, v.service);
  prefix_->setText(v.path_prefix);
  timeout_->setValue(v.timeout_ms);
}

QString TimeoutForm::problem() const {
  return routeProblem(service_->currentText(), prefix_->text());
}

PolicyFormResult TimeoutForm::result(const std::vector<cp::PolicyInfo>& existing) const {
  return timeoutYaml(values(), existing);
}

FaultForm::FaultForm(const QStringList& services, QWidget* parent) : PolicyForm(parent) {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* top = new QFormLayout;
  service_ = serviceBox(services, this);
  prefix_ = prefixEdit(this);
  top->addRow(tr("Service"), service_);
  top->addRow(tr("Path prefix"), prefix_);
  layout->addLayout(top);

  auto percent = [this](const char* name) {
    auto* s = new QDoubleSpinBox(this);
    s->setObjectName(QLatin1String(name));
    s->setRange(0, 100);
    s->setDecimals(1);
    s->setSuffix(QStringLiteral(" %"));
    connect(s, &QDoubleSpinBox::valueChanged, this, &PolicyForm::changed);
    return s;
  };
  delay_ = new QGroupBox(tr("Delay"), this);
  delay_->setObjectName(QStringLiteral("delay"));
  delay_->setCheckable(true);
  auto* dl = new QFormLayout(delay_);
  delay_percent_ = percent("delayPercent");
  delay_ms_ = new QSpinBox(delay_);
  delay_ms_->setObjectName(QStringLiteral("delayMs"));
  delay_ms_->setRange(1, 600000);
  delay_ms_->setSingleStep(50);
  delay_ms_->setSuffix(tr(" ms"));
  dl->addRow(tr("Requests delayed"), delay_percent_);
  dl->addRow(tr("Delay"), delay_ms_);
  abort_ = new QGroupBox(tr("Abort"), this);
  abort_->setObjectName(QStringLiteral("abort"));
  abort_->setCheckable(true);
  auto* al = new QFormLayout(abort_);
  abort_percent_ = percent("abortPercent");
  abort_status_ = new QSpinBox(abort_);
  abort_status_->setObjectName(QStringLiteral("abortStatus"));
  abort_status_->setRange(200, 599);
  abort_kind_ = new QComboBox(abort_);
  abort_kind_->setObjectName(QStringLiteral("abortKind"));
  abort_kind_->addItems({tr("HTTP status"), tr("gRPC status")});
  abort_kind_->setToolTip(
      tr("A gRPC status answers gRPC callers as their server would (HTTP "
         "200 with grpc-status); an HTTP status is what HTTP/1.1 and "
         "HTTP/2 callers see."));
  abort_grpc_status_ = new QComboBox(abort_);
  abort_grpc_status_->setObjectName(QStringLiteral("abortGrpcStatus"));
  abort_grpc_status_->addItems(grpcAbortStatusNames());
  abort_grpc_status_->setCurrentText(QStringLiteral("UNAVAILABLE"));
  al->addRow(tr("Requests aborted"), abort_percent_);
  al->addRow(tr("Answer with"), abort_kind_);
  al->addRow(tr("HTTP status"), abort_status_);
  al->addRow(tr("gRPC status"), abort_grpc_status_);
  // Exclusive, as the parser requires: only the chosen kind's status can be edited.
  auto show_kind = [this] {
    const bool grpc = abort_kind_->currentIndex() == 1;
    abort_status_->setEnabled(!grpc);
    abort_grpc_status_->setEnabled(grpc);
  };
  connect(abort_kind_, &QComboBox::currentIndexChanged, this, [this, show_kind] {
    show_kind();
    emit changed();
  });
  show_kind();
  connect(abort_grpc_status_, &QComboBox::currentTextChanged, this, &PolicyForm::changed);
  layout->addWidget(delay_);
  layout->addWidget(abort_);
  connect(service_, &QComboBox::currentTextChanged, this, &PolicyForm::changed);
  connect(prefix_, &QLineEdit::textChanged, this, &PolicyForm::changed);
  connect(delay_, &QGroupBox::toggled, this, &PolicyForm::changed);
  connect(abort_, &QGroupBox::toggled, this, &PolicyForm::changed);
  connect(delay_ms_, &QSpinBox::valueChanged, this, &PolicyForm::changed);
  connect(abort_status_, &QSpinBox::valueChanged, this, &PolicyForm::changed);
  FaultValues defaults;
  defaults.service = services.value(0);
  setValues(defaults);
}

FaultValues FaultForm::values() const {
  FaultValues v;
  v.service = service_->currentText().trimmed();
  v.path_prefix = prefix_->text().trimmed();
  v.delay = delay_->isChecked();
  v.delay_percent = delay_percent_->value();
  v.delay_ms = delay_ms_->value();
  v.abort = abort_->isChecked();
  v.abort_percent = abort_percent_->value();
  v.abort_status = abort_status_->value();
  if (abort_kind_->currentIndex() == 1) v.abort_grpc_status = abort_grpc_status_->currentText();
  return v;
}

void FaultForm::setValues(const FaultValues& v) {
  setService(service_, v.service);
  prefix_->setText(v.path_prefix);
  delay_->setChecked(v.delay);
  delay_percent_->setValue(v.delay_percent);
  delay_ms_->setValue(v.delay_ms);
  abort_->setChecked(v.abort);
  abort_percent_->setValue(v.abort_percent);
  abort_status_->setValue(v.abort_status);
  // A name in any case, as the parser reads it; one it does not know leaves the HTTP status.
  const int grpc = v.abort_grpc_status.isEmpty()
                       ? -1
                       : abort_grpc_status_->findText(v.abort_grpc_status.toUpper());
  if (grpc >= 0) abort_grpc_status_->setCurrentIndex(grpc);
  abort_kind_->setCurrentIndex(grpc >= 0 ? 1 : 0);
}

QString FaultForm::problem() const {
  if (QString p = routeProblem(service_->currentText(), prefix_->text()); !p.isEmpty()) return p;
  if (!delay_->isChecked() && !abort_->isChecked()) return tr("Tick a delay, an abort or both.");
  return {};
}

PolicyFormResult FaultForm::result(const std::vector<cp::PolicyInfo>& existing) const {
  return faultYaml(values(), existing);
}

MtlsForm::MtlsForm(const QStringList& services, QWidget* parent) : PolicyForm(parent) {
  auto* form = new QFormLayout(this);
  mesh_ = new QRadioButton(tr("The whole mesh"), this);
  mesh_->setObjectName(QStringLiteral("meshWide"));
  one_service_ = new QRadioButton(tr("One service:"), this);
  one_service_->setObjectName(QStringLiteral("oneService"));
  service_ = serviceBox(services, this);
  auto* scope = new QWidget(this);
  auto* sl = new QHBoxLayout(scope);
  sl->setContentsMargins(0, 0, 0, 0);
  sl->addWidget(mesh_);
  sl->addWidget(one_service_);
  sl->addWidget(service_, 1);
  mode_ = new QComboBox(this);
  mode_->setObjectName(QStringLiteral("mode"));
  mode_->addItems(
      {QStringLiteral("STRICT"), QStringLiteral("PERMISSIVE"), QStringLiteral("DISABLE")});
  form->addRow(tr("Applies to"), scope);
  form->addRow(tr("Mode"), mode_);
  auto* hint = new QLabel(tr("STRICT: mutual TLS only. PERMISSIVE: mutual TLS and plain text. "
                             "DISABLE: plain text. Callers use mTLS towards STRICT and "
                             "PERMISSIVE services automatically."),
                          this);
  hint->setWordWrap(true);
  hint->setEnabled(false);
  form->addRow(QString(), hint);
  connect(mesh_, &QRadioButton::toggled, this, [this](bool on) {
    service_->setEnabled(!on);
    emit changed();
  });
  connect(service_, &QComboBox::currentTextChanged, this, &PolicyForm::changed);
  connect(mode_, &QComboBox::currentTextChanged, this, &PolicyForm::changed);
  MtlsValues defaults;
  setValues(defaults);
  if (!services.isEmpty()) setService(service_, services.front());
}

MtlsValues MtlsForm::values() const {
  return {mesh_->isChecked() ? QString() : service_->currentText().trimmed(), mode_->currentText()};
}

void MtlsForm::setValues(const MtlsValues& v) {
  mesh_->setChecked(v.service.isEmpty());
  one_service_->setChecked(!v.service.isEmpty());
  service_->setEnabled(!v.service.isEmpty());
  if (!v.service.isEmpty()) setService(service_, v.service);
  mode_->setCurrentText(v.mode);
}

QString MtlsForm::problem() const {
  if (one_service_->isChecked() && service_->currentText().trimmed().isEmpty())
    return tr("Choose a service.");
  return {};
}

PolicyFormResult MtlsForm::result(const std::vector<cp::PolicyInfo>& existing) const {
  return mtlsYaml(values(), existing);
}

AuthorizationForm::AuthorizationForm(const QStringList& services, QWidget* parent)
    : PolicyForm(parent) {
  auto* form = new QFormLayout(this);
  service_ = serviceBox(services, this);
  every_service_ = new QCheckBox(tr("every service"), this);
  every_service_->setObjectName(QStringLiteral("everyService"));
  auto* target = new QWidget(this);
  auto* tl = new QHBoxLayout(target);
  tl->setContentsMargins(0, 0, 0, 0);
  tl->addWidget(service_, 1);
  tl->addWidget(every_service_);
  action_ = new QComboBox(this);
  action_->setObjectName(QStringLiteral("action"));
  action_->addItems({QStringLiteral("ALLOW"), QStringLiteral("DENY")});
  name_ = new QLineEdit(this);
  name_->setObjectName(QStringLiteral("name"));
  name_->setPlaceholderText(tr("<service>-allow"));
  sources_ = new QLineEdit(this);
  sources_->setObjectName(QStringLiteral("sources"));
  sources_->setPlaceholderText(tr("any (e.g. frontend, catalog)"));
  principals_ = new QLineEdit(this);
  principals_->setObjectName(QStringLiteral("principals"));
  principals_->setPlaceholderText(tr("any (e.g. meshdeck.local/ns/default/sa/frontend)"));
  auto* methods = new QWidget(this);
  auto* ml = new QHBoxLayout(methods);
  ml->setContentsMargins(0, 0, 0, 0);
  for (const QString& m : kMethods) {
    auto* box = new QCheckBox(m, methods);
    box->setObjectName(QStringLiteral("method-") + m);
    ml->addWidget(box);
    methods_ << box;
    connect(box, &QCheckBox::toggled, this, &PolicyForm::changed);
  }
  paths_ = new QLineEdit(this);
  paths_->setObjectName(QStringLiteral("paths"));
  paths_->setPlaceholderText(tr("any (e.g. /reviews*, /health)"));
  dry_run_ = new QCheckBox(tr("Dry run: log decisions, never deny"), this);
  dry_run_->setObjectName(QStringLiteral("dryRun"));
  default_deny_ = new QCheckBox(tr("Default deny: refuse what no ALLOW rule names"), this);
  default_deny_->setObjectName(QStringLiteral("defaultDeny"));
  form->addRow(tr("Service"), target);
  form->addRow(tr("Action"), action_);
  form->addRow(tr("Name"), name_);
  form->addRow(tr("From services"), sources_);
  form->addRow(tr("From principals"), principals_);
  form->addRow(tr("Methods"), methods);
  form->addRow(tr("Paths"), paths_);
  form->addRow(QString(), dry_run_);
  form->addRow(QString(), default_deny_);
  auto* hint = new QLabel(tr("Sources are identified by mutual TLS: without mTLS a rule with "
                             "sources never matches. Lists are comma separated; empty means any."),
                          this);
  hint->setWordWrap(true);
  hint->setEnabled(false);
  form->addRow(QString(), hint);
  connect(every_service_, &QCheckBox::toggled, this, [this](bool on) {
    service_->setEnabled(!on);
    emit changed();
  });
  for (QLineEdit* e : {name_, sources_, principals_, paths_})
    connect(e, &QLineEdit::textChanged, this, &PolicyForm::changed);
  connect(service_, &QComboBox::currentTextChanged, this, &PolicyForm::changed);
  connect(action_, &QComboBox::currentTextChanged, this, &PolicyForm::changed);
  connect(dry_run_, &QCheckBox::toggled, this, &PolicyForm::changed);
  connect(default_deny_, &QCheckBox::toggled, this, &PolicyForm::changed);
  AuthorizationValues defaults;
  defaults.service = services.value(0);
  setValues(defaults);
}

AuthorizationValues AuthorizationForm::values() const {
  AuthorizationValues v;
  v.name = name_->text().trimmed();
  v.service = every_service_->isChecked() ? QString() : service_->currentText().trimmed();
  v.deny = action_->currentText() == QLatin1String("DENY");
  v.source_services = splitList(sources_->text());
  v.principals = splitList(principals_->text());
  for (QCheckBox* b : methods_) {
    if (b->isChecked()) v.methods << b->text();
  }
  v.paths = splitList(paths_->text());
  v.dry_run = dry_run_->isChecked();
  v.default_deny = default_deny_->isChecked();
  return v;
}

void AuthorizationForm::setValues(const AuthorizationValues& v) {
  name_->setText(v.name);
  every_service_->setChecked(v.service.isEmpty());
  service_->setEnabled(!v.service.isEmpty());
  if (!v.service.isEmpty()) setService(service_, v.service);
  action_->setCurrentText(v.deny ? QStringLiteral("DENY") : QStringLiteral("ALLOW"));
  sources_->setText(v.source_services.join(QStringLiteral(", ")));
  principals_->setText(v.principals.join(QStringLiteral(", ")));
  for (QCheckBox* b : methods_) b->setChecked(v.methods.contains(b->text()));
  paths_->setText(v.paths.join(QStringLiteral(", ")));
  dry_run_->setChecked(v.dry_run);
  default_deny_->setChecked(v.default_deny);
}

QString AuthorizationForm::problem() const {
  const AuthorizationValues v = values();
  if (!every_service_->isChecked() && v.service.isEmpty())
    return tr("Choose a service, or tick every service.");
  for (const QString& p : v.paths) {
    if (p != QLatin1String("*") && !p.startsWith(QLatin1Char('/')))
      return tr("A path starts with '/': %1").arg(p);
  }
  if (v.deny && v.default_deny)
    return tr("Default deny with a DENY rule refuses everything: use ALLOW rules with it.");
  return {};
}

PolicyFormResult AuthorizationForm::result(const std::vector<cp::PolicyInfo>&) const {
  return authorizationYaml(values());
}

// --- Dialog -----------------------------------------------------------------------------------

PolicyFormDialog::PolicyFormDialog(PolicyFormKind kind, const QStringList& services,
                                   const QMap<QString, QStringList>& versions,
                                   std::vector<cp::PolicyInfo> existing, QWidget* parent)
    : QDialog(parent), kind_(kind), existing_(std::move(existing)) {
  setWindowTitle(displayName(kind));
  setObjectName(QStringLiteral("policyFormDialog"));
  switch (kind) {
    case PolicyFormKind::kCanary:
      form_ = new CanaryForm(services, versions, this);
      break;
    case PolicyFormKind::kRetries:
      form_ = new RetriesForm(services, this);
      break;
    case PolicyFormKind::kTimeout:
      form_ = new TimeoutForm(services, this);
      break;
    case PolicyFormKind::kFault:
      form_ = new FaultForm(services, this);
      break;
    case PolicyFormKind::kMtls:
      form_ = new MtlsForm(services, this);
      break;
    case PolicyFormKind::kAuthorization:
    default:
      form_ = new AuthorizationForm(services, this);
      break;
  }
  auto* layout = new QVBoxLayout(this);
  layout->addWidget(form_);
  problem_ = new QLabel(this);
  problem_->setStyleSheet(QStringLiteral("color: #d63333"));
  problem_->setWordWrap(true);
  layout->addWidget(problem_);
  layout->addWidget(
      new QLabel(tr("<b>YAML</b> (goes to the editor; nothing is applied yet)"), this));
  preview_ = new QPlainTextEdit(this);
  preview_->setObjectName(QStringLiteral("formPreview"));
  preview_->setReadOnly(true);
  preview_->setLineWrapMode(QPlainTextEdit::NoWrap);
  preview_->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
  preview_->setMinimumHeight(160);
  new YamlHighlighter(preview_->document(), palette().color(QPalette::Window).lightness() < 128);
  layout->addWidget(preview_, 1);
  buttons_ = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
  buttons_->button(QDialogButtonBox::Ok)->setText(tr("Write to editor"));
  connect(buttons_, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons_, &QDialogButtonBox::rejected, this, &QDialog::reject);
  layout->addWidget(buttons_);
  connect(form_, &PolicyForm::changed, this, &PolicyFormDialog::update);
  update();
  resize(560, 620);
}

PolicyFormResult PolicyFormDialog::result() const { return form_->result(existing_); }

void PolicyFormDialog::update() {
  const QString problem = form_->problem();
  problem_->setText(problem);
  problem_->setVisible(!problem.isEmpty());
  buttons_->button(QDialogButtonBox::Ok)->setEnabled(problem.isEmpty());
  preview_->setPlainText(problem.isEmpty() ? result().yaml : QString());
}

}  // namespace meshdeck::ui
