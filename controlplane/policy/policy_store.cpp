#include "controlplane/policy/policy_store.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cassert>
#include <filesystem>
#include <map>

#include "common/atomic_file.h"
#include "common/bounded_file.h"
#include "common/input_limits.h"
#include "controlplane/policy/policy_parser.h"
#include "controlplane/policy/unified_diff.h"

namespace meshdeck::cp {
namespace json = boost::json;

namespace {

// A policy in force is shown (and opened in the desktop's editor) as its own normalized YAML
// under its id. It is read again from that text, named by its id ("TrafficRoute/reviews-canary"),
// so that an error found in it later (a delete that takes away a subset it routes to) names the
// policy as its file and points at a line and column of the text the user can open. The text
// was accepted before, so it parses again; if it somehow did not, the policy is left as it was.
void locateInOwnYaml(Policy* p) {
  if (p->where.file == p->id()) return;
  std::vector<common::LocatedError> errors;
  auto again = parsePolicies(p->yaml, p->id(), &errors);
  if (!errors.empty() || again.size() != 1 || again.front().id() != p->id()) return;
  const uint64_t changed_in = p->changed_in;
  std::string yaml = std::move(p->yaml);
  *p = std::move(again.front());
  p->yaml = std::move(yaml);
  p->changed_in = changed_in;
}
constexpr const char* kFormat = "meshdeck.policy-store/v1";
constexpr const char* kCancelledMessage =
    "cancelled, nothing changed: the caller gave up, the call ran out of time or the control "
    "plane is shutting down";

void sortById(std::vector<Policy>* policies) {
  std::sort(policies->begin(), policies->end(),
            [](const Policy& a, const Policy& b) { return a.id() < b.id(); });
}

int64_t toMillis(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace

std::string policySetYaml(const std::vector<Policy>& policies) {
  std::string out;
  for (const auto& p : policies) {
    out += "---\n";
    out += p.yaml;
  }
  return out;
}

PolicyStore::PolicyStore(std::string state_dir, const common::TimeSource& time)
    : state_dir_(std::move(state_dir)), time_(time), current_(std::make_shared<PolicySet>()) {}

bool PolicyStore::load(std::string* error) {
  if (state_dir_.empty()) return true;
  const std::filesystem::path path = std::filesystem::path(state_dir_) / kStateFileName;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return true;
  std::string text;
  if (!common::readFileLimited(path, common::limits::kMaxPolicyStateFileBytes, &text, error)) {
    *error = "policy state file: " + *error +
             ". Nothing was loaded; move the file away to start with an empty policy history.";
    return false;
  }
  auto corrupted = [&](const std::string& why) {
    *error = fmt::format(
        "policy state file {} is corrupted: {}. Nothing was loaded; move the file away to start "
        "with an empty policy history.",
        path.string(), why);
    return false;
  };
  std::vector<Revision> loaded;
  try {
    json::error_code jec;
    json::value root = json::parse(text, jec);
    if (jec) return corrupted(fmt::format("not valid JSON ({})", jec.message()));
    const auto& obj = root.as_object();
    if (!obj.contains("format") || obj.at("format").as_string() != kFormat)
      return corrupted(fmt::format("unknown format (expected \"{}\")", kFormat));
    uint64_t previous = 0;
    for (const auto& rv : obj.at("revisions").as_array()) {
      const auto& r = rv.as_object();
      Revision rev;
      rev.info.number = json::value_to<uint64_t>(r.at("number"));
      rev.info.author = json::value_to<std::string>(r.at("author"));
      rev.info.summary = json::value_to<std::string>(r.at("summary"));
      rev.info.time =
          SystemTime{} + std::chrono::milliseconds(json::value_to<int64_t>(r.at("time_ms")));
      if (rev.info.number <= previous)
        return corrupted(fmt::format("revision {} follows {}", rev.info.number, previous));
      previous = rev.info.number;
      auto set = std::make_shared<PolicySet>();
      set->revision = rev.info.number;
      for (const auto& pv : r.at("policies").as_array()) {
        const std::string yaml = json::value_to<std::string>(pv.as_object().at("yaml"));
        std::vector<common::LocatedError> errors;
        auto parsed =
            parsePolicies(yaml, fmt::format("{}@{}", kStateFileName, rev.info.number), &errors);
        if (!errors.empty()) return corrupted(errors.front().toString());
        if (parsed.size() != 1)
          return corrupted(fmt::format("revision {} holds an empty policy", rev.info.number));
        locateInOwnYaml(&parsed.front());
        set->policies.push_back(std::move(parsed.front()));
      }
      sortById(&set->policies);
      for (auto& p : set->policies) {
        p.changed_in = rev.info.number;
        if (loaded.empty()) continue;
        for (const auto& old : loaded.back().set->policies) {
          if (old.id() == p.id() && old.yaml == p.yaml) p.changed_in = old.changed_in;
        }
      }
      rev.set = std::move(set);
      loaded.push_back(std::move(rev));
    }
  } catch (const std::exception& e) {
    // Boost.JSON throws on a missing key or a wrong type: the file is not what we wrote.
    return corrupted(fmt::format("unexpected structure ({})", e.what()));
  }
  std::lock_guard lock(mutex_);
  revisions_ = std::move(loaded);
  current_ = revisions_.empty() ? std::make_shared<PolicySet>() : revisions_.back().set;
  return true;
}

std::string PolicyStore::serializeLocked(const std::vector<Revision>& revisions) const {
  json::array revs;
  for (const auto& r : revisions) {
    json::array policies;
    for (const auto& p : r.set->policies) {
      policies.push_back(
          json::object{{"kind", toString(p.kind)}, {"name", p.name}, {"yaml", p.yaml}});
    }
    revs.push_back(json::object{{"number", r.info.number},
                                {"author", r.info.author},
                                {"time_ms", toMillis(r.info.time)},
                                {"summary", r.info.summary},
                                {"policies", std::move(policies)}});
  }
  return json::serialize(json::object{{"format", kFormat}, {"revisions", std::move(revs)}}) + "\n";
}

ApplyResult PolicyStore::commitLocked(std::vector<Policy> next, const std::string& author,
                                      std::string summary_prefix, bool dry_run,
                                      std::unique_lock<std::timed_mutex>& lock,
                                      const std::function<bool()>& cancelled,
                                      const std::set<std::string>* submitted) {
  ApplyResult result;
  sortById(&next);
  // Services named by the policies in force stay known: they were checked when applied, and a
  // control plane restarted before its proxies reconnect must still accept its own history.
  std::set<std::string> known = known_services_ ? known_services_() : std::set<std::string>{};
  for (const auto& p : current_->policies) {
    auto refs = referencedServices(p);
    known.insert(refs.begin(), refs.end());
  }
  validatePolicySet(next, known, &result.errors);
  if (!result.errors.empty()) {
    result.revision = current_->revision;
    return result;
  }
  // Summary: what changed, by id.
  std::map<std::string, const Policy*> before, after;
  for (const auto& p : current_->policies) before[p.id()] = &p;
  for (const auto& p : next) after[p.id()] = &p;
  std::vector<std::string> parts;
  for (const auto& [id, p] : after) {
    auto it = before.find(id);
    if (it == before.end())
      parts.push_back("created " + id);
    else if (it->second->yaml != p->yaml)
      parts.push_back("updated " + id);
  }
  for (const auto& [id, p] : before)
    if (!after.count(id)) parts.push_back("deleted " + id);
  result.ok = true;
  std::vector<PolicyWarning> warnings;
  {
    std::set<std::string> changed;
    for (const auto& [id, p] : after) {
      auto it = before.find(id);
      if (it == before.end() || it->second->yaml != p->yaml) changed.insert(id);
    }
    std::optional<WorkloadInventory> inventory;
    if (inventory_) inventory = inventory_();
    warnings =
        policyEffects(next, submitted ? submitted : &changed, inventory ? &*inventory : nullptr);
  }
  if (parts.empty()) {
    result.revision = current_->revision;
    result.summary = "no change";
    result.warnings = std::move(warnings);
    return result;
  }
  std::string summary = summary_prefix;
  for (size_t i = 0; i < parts.size(); ++i) summary += (i ? ", " : "") + parts[i];
  result.summary = summary;
  const uint64_t number = (revisions_.empty() ? 0 : revisions_.back().info.number) + 1;
  result.revision = number;
  if (dry_run) {
    result.warnings = std::move(warnings);
    return result;
  }
  if (cancelled && cancelled()) {
    result.ok = false;
    result.revision = current_->revision;
    result.errors.push_back(common::LocatedError{"", 0, 0, "", kCancelledMessage});
    return result;
  }

  for (auto& p : next) {
    locateInOwnYaml(&p);
    auto it = before.find(p.id());
    p.changed_in =
        it != before.end() && it->second->yaml == p.yaml ? it->second->changed_in : number;
  }
  auto set = std::make_shared<PolicySet>();
  set->revision = number;
  set->policies = std::move(next);
  // Milliseconds, as the state file keeps it: a restarted control plane shows the same time.
  const SystemTime now = std::chrono::time_point_cast<std::chrono::milliseconds>(time_.systemNow());
  Revision rev{RevisionInfo{number, author.empty() ? "unknown" : author, now, summary}, set};
  std::vector<Revision> revisions = revisions_;
  revisions.push_back(rev);
  if (revisions.size() > kMaxRevisions)
    revisions.erase(revisions.begin(), revisions.end() - kMaxRevisions);
  if (!state_dir_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(state_dir_, ec);
    std::string error;
    // The file must stay loadable: drop the oldest revisions until it fits under the limit
    // load() enforces (JSON escaping of the YAML costs a little over its size).
    std::string text = serializeLocked(revisions);
    while (text.size() > common::limits::kMaxPolicyStateFileBytes && revisions.size() > 1) {
      const size_t excess = text.size() - common::limits::kMaxPolicyStateFileBytes;
      size_t dropped_bytes = 0, drop = 0;
      while (drop + 1 < revisions.size() && dropped_bytes <= excess) {
        for (const auto& p : revisions[drop].set->policies) dropped_bytes += p.yaml.size() + 64;
        ++drop;
      }
      revisions.erase(revisions.begin(), revisions.begin() + static_cast<std::ptrdiff_t>(drop));
      text = serializeLocked(revisions);
    }
    if (text.size() > common::limits::kMaxPolicyStateFileBytes) {
      result.ok = false;
      result.revision = current_->revision;
      result.errors.push_back(common::LocatedError{
          "", 0, 0, "",
          fmt::format("the policies would take {} in the state file; the limit is {}",
                      common::formatBytes(text.size()),
                      common::formatBytes(common::limits::kMaxPolicyStateFileBytes))});
      return result;
    }
    if (!common::writeFileAtomically(std::filesystem::path(state_dir_) / kStateFileName, text,
                                     &error, 0600)) {
      // A read-only or full state directory: refuse the change (a revision that is not on disk
      // would be lost by a restart), keep serving the current one, accept changes again as soon
      // as the directory is writable.
      const std::string message = fmt::format(
          "the state directory {} is not writable ({}): revision {} was not saved and the "
          "policies are unchanged (still revision {}); apply again once it is writable",
          state_dir_, error, number, current_->revision);
      result.ok = false;
      result.revision = current_->revision;
      result.errors.push_back(common::LocatedError{"", 0, 0, "", message});
      lock.unlock();
      spdlog::error("policy change by {} refused: {}", rev.info.author, message);
      return result;
    }
  }
  revisions_ = std::move(revisions);
  current_ = set;
  // Revision numbers only grow, and the newest kept revision is the one in force.
  assert(!revisions_.empty() && revisions_.back().info.number == number);
  assert(revisions_.size() < 2 || revisions_[revisions_.size() - 2].info.number < number);
  lock.unlock();
  spdlog::info("policy revision {} by {}: {}", number, rev.info.author, summary);
  for (const auto& w : warnings) spdlog::warn("policy revision {}: {}", number, w.where.toString());
  result.warnings = std::move(warnings);
  if (on_change_) on_change_(set);
  return result;
}

ApplyResult PolicyStore::apply(const std::string& yaml, const std::string& file,
                               const std::string& author, bool dry_run,
                               const std::function<bool()>& cancelled) {
  return applyFiles({{file, yaml}}, author, dry_run, cancelled);
}

ApplyResult PolicyStore::applyFiles(const std::vector<std::pair<std::string, std::string>>& files,
                                    const std::string& author, bool dry_run,
                                    const Cancelled& cancelled) {
  ApplyResult result;
  auto gaveUp = [&] {
    if (!cancelled || !cancelled()) return false;
    result.ok = false;
    result.errors.assign(1, common::LocatedError{"", 0, 0, "", kCancelledMessage});
    return true;
  };
  if (gaveUp()) return result;
  std::vector<Policy> parsed;
  for (const auto& [file, yaml] : files) {
    auto more = parsePolicies(yaml, file, &result.errors);
    for (auto& p : more) {
      for (const auto& earlier : parsed) {
        if (earlier.id() == p.id() && earlier.where.file != p.where.file) {
          result.errors.push_back(
              common::LocatedError{p.where.file, p.where.line, p.where.column, "metadata.name",
                                   fmt::format("{} is also defined in {}:{}", p.id(),
                                               earlier.where.file, earlier.where.line)});
        }
      }
      parsed.push_back(std::move(p));
    }
  }
  // Wait for the commits ahead of this one, but not past the caller's patience.
  std::unique_lock lock(mutex_, std::defer_lock);
  while (!lock.try_lock_for(std::chrono::milliseconds(20)))
    if (gaveUp()) return result;
  result.revision = current_->revision;
  if (gaveUp()) return result;
  if (!result.errors.empty()) return result;
  if (parsed.empty()) {
    result.errors.push_back(common::LocatedError{files.size() == 1 ? files[0].first : "", 0, 0, "",
                                                 "no policy document found"});
    return result;
  }
  std::set<std::string> submitted;
  for (const auto& p : parsed) submitted.insert(p.id());
  std::map<std::string, Policy> merged;
  for (const auto& p : current_->policies) merged[p.id()] = p;
  for (auto& p : parsed) merged[p.id()] = std::move(p);
  std::vector<Policy> next;
  for (auto& [id, p] : merged) next.push_back(std::move(p));
  return commitLocked(std::move(next), author, "", dry_run, lock, cancelled, &submitted);
}

ApplyResult PolicyStore::remove(const std::string& kind, const std::string& name,
                                const std::string& author) {
  ApplyResult result;
  std::unique_lock lock(mutex_);
  result.revision = current_->revision;
  std::vector<Policy> next;
  bool found = false;
  for (const auto& p : current_->policies) {
    if (toString(p.kind) == kind && p.name == name)
      found = true;
    else
      next.push_back(p);
  }
  if (!found) {
    result.errors.push_back(
        common::LocatedError{"", 0, 0, "", fmt::format("no policy {}/{} exists", kind, name)});
    return result;
  }
  result = commitLocked(std::move(next), author, "", false, lock);
  // Every policy left is one in force, so every error lies in one of them (its `file` is that
  // policy's id): it is the object to act on before this delete can go through.
  for (auto& e : result.errors) {
    if (!e.file.empty() && e.file != kind + "/" + name)
      e.message += fmt::format(": delete or change {} first", e.file);
  }
  return result;
}

ApplyResult PolicyStore::revert(uint64_t revision, const std::string& author) {
  ApplyResult result;
  std::unique_lock lock(mutex_);
  result.revision = current_->revision;
  std::vector<Policy> target;
  if (revision != 0) {
    const Revision* r = findLocked(revision);
    if (!r) {
      result.errors.push_back(
          common::LocatedError{"", 0, 0, "", fmt::format("revision {} does not exist", revision)});
      return result;
    }
    target = r->set->policies;
  }
  return commitLocked(std::move(target), author, fmt::format("revert to {}: ", revision), false,
                      lock);
}

const PolicyStore::Revision* PolicyStore::findLocked(uint64_t number) const {
  for (const auto& r : revisions_)
    if (r.info.number == number) return &r;
  return nullptr;
}

std::shared_ptr<const PolicySet> PolicyStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

std::shared_ptr<const PolicySet> PolicyStore::at(uint64_t revision) const {
  if (revision == 0) return std::make_shared<const PolicySet>();
  std::lock_guard lock(mutex_);
  const Revision* r = findLocked(revision);
  return r ? r->set : nullptr;
}

std::vector<RevisionInfo> PolicyStore::revisions() const {
  std::lock_guard lock(mutex_);
  std::vector<RevisionInfo> out;
  for (auto it = revisions_.rbegin(); it != revisions_.rend(); ++it) out.push_back(it->info);
  return out;
}

std::optional<std::string> PolicyStore::diff(uint64_t from, uint64_t to) const {
  std::lock_guard lock(mutex_);
  auto textOf = [&](uint64_t n) -> std::optional<std::string> {
    if (n == 0) return std::string();
    const Revision* r = findLocked(n);
    if (!r) return std::nullopt;
    return policySetYaml(r->set->policies);
  };
  if (to == 0) to = current_->revision;
  auto a = textOf(from), b = textOf(to);
  if (!a || !b) return std::nullopt;
  return unifiedDiff(*a, *b, fmt::format("revision {}", from), fmt::format("revision {}", to));
}

}  // namespace meshdeck::cp
