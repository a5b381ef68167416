#pragma once

#include <QDialog>
#include <QMap>
#include <QStringList>
#include <QWidget>
#include <vector>

#include "controlplane/api/types.h"

class QCheckBox;
class QComboBox;
class QDialogButtonBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QRadioButton;
class QSlider;
class QSpinBox;

namespace meshdeck::ui {

// Forms for the common policies. Each one writes YAML in the schema of docs/policies.md; the
// user reviews it in the editor and applies it through the usual path (where the control plane
// validates it). The YAML generators are plain functions so that tests can run their output
// through the control plane's own parser.

enum class PolicyFormKind { kCanary, kRetries, kTimeout, kFault, kMtls, kAuthorization };

QString displayName(PolicyFormKind kind);

// What a form wrote: the YAML (one or several documents) and one line for the status label.
struct PolicyFormResult {
  QString yaml;
  QString summary;
};

// No version is assumed: the form fills them from the versions that run (a canary to a version
// without instances fails every request sent to it).
struct CanaryValues {
  QString service = QStringLiteral("reviews");
  QString stable, canary;
  int canary_weight = 5;  // 0..100; the stable version gets the rest. Small: a first step.
  // The DestinationPolicy's trafficPolicy.protocol: "http1", "http2" or "grpc". Empty: what the
  // service's sidecars declare (--app-protocol); a protocol already in force is then kept.
  QString protocol;
};

// Retries, timeout and fault act on the routes of a TrafficRoute. With no path prefix they are
// set on every route of the TrafficRoute already in force for the service (so that they combine
// with a canary split instead of conflicting with it); otherwise, or when there is none, a new
// TrafficRoute `<service>-<kind>` is written (with a `uri.prefix` match when a prefix is given).
struct RetriesValues {
  QString service, path_prefix;
  int attempts = 2;              // 0..10
  int per_try_timeout_ms = 500;  // 0: no per-try timeout
  QStringList retry_on{QStringLiteral("5xx"), QStringLiteral("connect-failure")};  // empty: default
};

struct TimeoutValues {
  QString service, path_prefix;
  int timeout_ms = 2000;
};

struct FaultValues {
  QString service, path_prefix;
  bool delay = true;
  double delay_percent = 10;
  int delay_ms = 300;
  bool abort = false;
  double abort_percent = 5;
  int abort_status = 503;
  // A gRPC status name (UNAVAILABLE): the abort answers gRPC callers with it (grpcStatus)
  // instead of an HTTP status. Empty: httpStatus abort_status. The parser takes one, not both.
  QString abort_grpc_status;
};

// PeerAuthentication. An empty service is the mesh-wide mode. The name of a PeerAuthentication
// already in force for the same scope is reused (two for one scope would conflict).
struct MtlsValues {
  QString service;
  QString mode = QStringLiteral("STRICT");  // STRICT | PERMISSIVE | DISABLE
};

// AuthorizationPolicy with one rule (sources, methods, paths; empty lists match anything). An
// empty service selects every service of the mesh. `default_deny` adds an ALLOW policy without
// rules for the same selector ("allow-nothing"), so that only what an ALLOW rule names passes.
struct AuthorizationValues {
  QString name;  // empty: <service>-allow / <service>-deny (mesh-allow / mesh-deny)
  QString service;
  bool deny = false;
  QStringList source_services, principals, methods, paths;
  bool dry_run = false;
  bool default_deny = false;
};

// The DestinationPolicy in force for the service gains the subsets it lacks (a second one for the
// host would conflict); the split replaces the destinations of the catch-all routes of the
// TrafficRoute in force for it, or a new TrafficRoute `<service>-canary` is written.
PolicyFormResult canaryYaml(const CanaryValues& v, const std::vector<cp::PolicyInfo>& existing);
PolicyFormResult retriesYaml(const RetriesValues& v, const std::vector<cp::PolicyInfo>& existing);
PolicyFormResult timeoutYaml(const TimeoutValues& v, const std::vector<cp::PolicyInfo>& existing);
PolicyFormResult faultYaml(const FaultValues& v, const std::vector<cp::PolicyInfo>& existing);
PolicyFormResult mtlsYaml(const MtlsValues& v, const std::vector<cp::PolicyInfo>& existing);
PolicyFormResult authorizationYaml(const AuthorizationValues& v);

// One form: input widgets, what is wrong with them ("" when nothing), and the YAML they make.
class PolicyForm : public QWidget {
  Q_OBJECT

 public:
  using QWidget::QWidget;
  virtual QString problem() const = 0;
  virtual PolicyFormResult result(const std::vector<cp::PolicyInfo>& existing) const = 0;

 signals:
  void changed();
};

// `versions`: the versions of each service that run now (connected instances). Only those are
// offered; the stable version defaults to the first, the canary to the last other one. A
// service with fewer than two running versions cannot have a canary, and problem() says so.
class CanaryForm : public PolicyForm {
  Q_OBJECT
 public:
  CanaryForm(const QStringList& services, const QMap<QString, QStringList>& versions,
             QWidget* parent = nullptr);
  CanaryValues values() const;
  void setValues(const CanaryValues& v);
  QString problem() const override;
  PolicyFormResult result(const std::vector<cp::PolicyInfo>& existing) const override;

 private:
  QMap<QString, QStringList> versions_;
  QComboBox* service_;
  QComboBox* stable_;
  QComboBox* canary_;
  QSlider* weight_;
  QLabel* share_;
  QComboBox* protocol_;
};

class RetriesForm : public PolicyForm {
  Q_OBJECT
 public:
  explicit RetriesForm(const QStringList& services, QWidget* parent = nullptr);
  RetriesValues values() const;
  void setValues(const RetriesValues& v);
  QString problem() const override;
  PolicyFormResult result(const std::vector<cp::PolicyInfo>& existing) const override;

 private:
  QComboBox* service_;
  QLineEdit* prefix_;
  QSpinBox* attempts_;
  QSpinBox* per_try_;
  QList<QCheckBox*> retry_on_;
};

class TimeoutForm : public PolicyForm {
  Q_OBJECT
 public:
  explicit TimeoutForm(const QStringList& services, QWidget* parent = nullptr);
  TimeoutValues values() const;
  void setValues(const TimeoutValues& v);
  QString problem() const override;
  PolicyFormResult result(const std::vector<cp::PolicyInfo>& existing) const override;

 private:
  QComboBox* service_;
  QLineEdit* prefix_;
  QSpinBox* timeout_;
};

class FaultForm : public PolicyForm {
  Q_OBJECT
 public:
  explicit FaultForm(const QStringList& services, QWidget* parent = nullptr);
  FaultValues values() const;
  void setValues(const FaultValues& v);
  QString problem() const override;
  PolicyFormResult result(const std::vector<cp::PolicyInfo>& existing) const override;

 private:
  QComboBox* service_;
  QLineEdit* prefix_;
  QGroupBox* delay_;
  QDoubleSpinBox* delay_percent_;
  QSpinBox* delay_ms_;
  QGroupBox* abort_;
  QDoubleSpinBox* abort_percent_;
  QComboBox* abort_kind_;  // HTTP status | gRPC status
  QSpinBox* abort_status_;
  QComboBox* abort_grpc_status_;
};

class MtlsForm : public PolicyForm {
  Q_OBJECT
 public:
  explicit MtlsForm(const QStringList& services, QWidget* parent = nullptr);
  MtlsValues values() const;
  void setValues(const MtlsValues& v);
  QString problem() const override;
  PolicyFormResult result(const std::vector<cp::PolicyInfo>& existing) const override;

 private:
  QRadioButton* mesh_;
  QRadioButton* one_service_;
  QComboBox* service_;
  QComboBox* mode_;
};

class AuthorizationForm : public PolicyForm {
  Q_OBJECT
 public:
  explicit AuthorizationForm(const QStringList& services, QWidget* parent = nullptr);
  AuthorizationValues values() const;
  void setValues(const AuthorizationValues& v);
  QString problem() const override;
  PolicyFormResult result(const std::vector<cp::PolicyInfo>& existing) const override;

 private:
  QLineEdit* name_;
  QCheckBox* every_service_;
  QComboBox* service_;
  QComboBox* action_;
  QLineEdit* sources_;
  QLineEdit* principals_;
  QList<QCheckBox*> methods_;
  QLineEdit* paths_;
  QCheckBox* dry_run_;
  QCheckBox* default_deny_;
};

// A dialog around one form with a live preview of the YAML; OK is enabled only when the form
// has no problem. Opened window-modal (open()), so the caller is not blocked.
class PolicyFormDialog : public QDialog {
  Q_OBJECT

 public:
  PolicyFormDialog(PolicyFormKind kind, const QStringList& services,
                   const QMap<QString, QStringList>& versions, std::vector<cp::PolicyInfo> existing,
                   QWidget* parent = nullptr);

  PolicyFormKind kind() const { return kind_; }
  PolicyForm* form() const { return form_; }
  PolicyFormResult result() const;
  QPlainTextEdit* preview() const { return preview_; }
  QDialogButtonBox* buttons() const { return buttons_; }

 private:
  void update();

  PolicyFormKind kind_;
  std::vector<cp::PolicyInfo> existing_;
  PolicyForm* form_;
  QLabel* problem_;
  QPlainTextEdit* preview_;
  QDialogButtonBox* buttons_;
};

}  // namespace meshdeck::ui
