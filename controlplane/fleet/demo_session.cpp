#include "controlplane/fleet/demo_session.h"

namespace meshdeck::cp::fleet {

namespace {
// A streambuf that hands complete lines to a callback.
class LineBuf : public std::streambuf {
 public:
  explicit LineBuf(DemoSession::LineCallback cb) : cb_(std::move(cb)) {}
  ~LineBuf() override { flushLine(); }

 protected:
  int overflow(int c) override {
    if (c == '\n')
      flushLine();
    else if (c != EOF)
      line_.push_back(static_cast<char>(c));
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    for (std::streamsize i = 0; i < n; ++i) overflow(static_cast<unsigned char>(s[i]));
    return n;
  }

 private:
  void flushLine() {
    if (!line_.empty() && cb_) cb_(line_);
    line_.clear();
  }
  DemoSession::LineCallback cb_;
  std::string line_;
};
}  // namespace

DemoSession::DemoSession(ControlPlane& control_plane, DemoRunOptions options, LineCallback on_line,
                         DoneCallback on_done)
    : cp_(control_plane),
      options_(std::move(options)),
      on_line_(std::move(on_line)),
      on_done_(std::move(on_done)) {}

DemoSession::~DemoSession() { stop(); }

void DemoSession::setScenarioCallbacks(ReadyCallback on_ready, ScenarioCallback on_event) {
  on_ready_ = std::move(on_ready);
  on_scenario_ = std::move(on_event);
}

void DemoSession::start() {
  if (running_.exchange(true)) return;
  cancelled_ = false;
  thread_ = std::thread([this] {
    LineBuf buf(on_line_);
    std::ostream out(&buf);
    int code = 0;
    {
      DemoRunOptions options = options_;
      if (on_ready_) options.on_ready = on_ready_;
      options.on_scenario_event = [this](const ScenarioEvent& e) {
        if (e.kind == ScenarioEvent::Kind::kScenarioFinished) scenario_active_ = false;
        if (on_scenario_) on_scenario_(e);
      };
      options.next_scenario = [this]() -> std::optional<Scenario> {
        std::lock_guard lock(scenario_mu_);
        std::optional<Scenario> next = std::move(pending_);
        pending_.reset();
        return next;
      };
      options.scenario_cancelled = [this] { return scenario_cancelled_.load(); };
      DemoRunner runner(cp_, std::move(options), out);
      code = runner.run([this] { return cancelled_.load(); });
    }
    std::optional<Scenario> never_played;
    {
      std::lock_guard lock(scenario_mu_);
      never_played = std::move(pending_);
      pending_.reset();
    }
    scenario_active_ = false;
    if (never_played) finishUnplayed(never_played->name, "the demo stopped before it could play");
    running_ = false;
    if (on_done_) on_done_(code);
  });
}

std::vector<PolicyInfo> DemoSession::scenarioCollisions(const std::string& name_or_path) {
  const auto file = findScenarioFile(name_or_path);
  if (!file) return {};
  std::vector<common::LocatedError> errors;
  const auto scenario = loadScenario(*file, &errors);
  if (!scenario) return {};
  return fleet::scenarioCollisions(*scenario, cp_.policies());
}

bool DemoSession::runScenario(const std::string& name_or_path, std::string* error, bool set_aside) {
  if (!running_ || cancelled_) {
    *error = "the demo is not running";
    return false;
  }
  if (options_.scenario) {
    *error = "this demo session plays scenario '" + *options_.scenario + "'";
    return false;
  }
  const auto file = findScenarioFile(name_or_path);
  if (!file) {
    *error = "no scenario named '" + name_or_path + "'";
    return false;
  }
  std::vector<common::LocatedError> errors;
  auto scenario = loadScenario(*file, &errors);
  if (!scenario) {
    for (const auto& e : errors) *error += (error->empty() ? "" : "\n") + e.toString();
    return false;
  }
  std::lock_guard lock(scenario_mu_);
  if (scenario_active_) {
    *error = "a scenario is already playing";
    return false;
  }
  scenario_cancelled_ = false;
  scenario_active_ = true;
  scenario->set_aside_collisions = set_aside;
  pending_ = std::move(scenario);
  return true;
}

void DemoSession::stopScenario() {
  std::string unplayed;
  {
    std::lock_guard lock(scenario_mu_);
    if (pending_) {
      // Not started yet: it never will.
      unplayed = pending_->name;
      pending_.reset();
      scenario_active_ = false;
    } else if (scenario_active_) {
      scenario_cancelled_ = true;
    }
  }
  if (!unplayed.empty()) finishUnplayed(unplayed, "stopped before it started");
}

void DemoSession::finishUnplayed(const std::string& name, const std::string& why) {
  if (!on_scenario_) return;
  ScenarioEvent e;
  e.kind = ScenarioEvent::Kind::kScenarioFinished;
  e.scenario = name;
  e.cancelled = true;
  e.text = why;
  on_scenario_(e);
}

void DemoSession::stop() {
  cancelled_ = true;
  if (thread_.joinable()) thread_.join();
}

}  // namespace meshdeck::cp::fleet
