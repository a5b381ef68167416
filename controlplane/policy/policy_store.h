#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "controlplane/api/types.h"
#include "controlplane/policy/policy.h"
#include "controlplane/policy/policy_effects.h"

namespace meshdeck::cp {

// The policies of one revision, sorted by id. Immutable once published.
struct PolicySet {
  uint64_t revision = 0;
  std::vector<Policy> policies;
};

// PolicyStore holds the policy revisions: validation of every change against the complete
// resulting set, all-or-nothing commit, durable history under the state directory, diff and
// revert.
//
// Every change is validated in full (parsePolicies + validatePolicySet) before anything is
// written; then the new revision is written with common::writeFileAtomically and only after the
// write succeeded does it become current. A change that leaves the set as it is creates no
// revision (applying the same file twice is a no-op). Thread-safe.
class PolicyStore {
 public:
  // Keeps at most this many revisions; older ones are dropped from the file and the history.
  static constexpr size_t kMaxRevisions = 500;
  static constexpr const char* kStateFileName = "policies.json";

  // `state_dir` empty: nothing is persisted. `time` must outlive the store.
  PolicyStore(std::string state_dir, const common::TimeSource& time);

  // Reads the state file, if any. A missing file is an empty history; an unreadable or
  // corrupted one returns false with an error naming the file and what is wrong (the store is
  // then left empty and must not be used to write over the file).
  bool load(std::string* error);

  // Services that are known even though no policy names them (registered proxies, the fleet).
  using KnownServices = std::function<std::set<std::string>()>;
  void setKnownServices(KnownServices known) { known_services_ = std::move(known); }
  // What runs now, for the warnings of every apply, dry run, delete and revert
  // (policyEffects); called under the store's lock. Unset: only the checks that need no
  // inventory run.
  using Inventory = std::function<WorkloadInventory()>;
  void setInventory(Inventory inventory) { inventory_ = std::move(inventory); }
  // Called after each new revision became current, outside the store's lock.
  void setOnChange(std::function<void(std::shared_ptr<const PolicySet>)> on_change) {
    on_change_ = std::move(on_change);
  }

  // Creates or replaces the documents of `yaml` (kubectl apply semantics).
  ApplyResult apply(const std::string& yaml, const std::string& file, const std::string& author,
                    bool dry_run, const std::function<bool()>& cancelled = {});
  // The same for several files at once (a policy directory): one revision, validated together,
  // so documents may refer to each other across files. Pairs are (file name, YAML).
  // `cancelled` (may be empty) is polled before and after parsing, while waiting for the
  // store's lock and before the write: a call whose client gave up, whose time ran out or
  // whose process is shutting down ends with an error and changes nothing.
  using Cancelled = std::function<bool()>;
  ApplyResult applyFiles(const std::vector<std::pair<std::string, std::string>>& files,
                         const std::string& author, bool dry_run, const Cancelled& cancelled = {});
  ApplyResult remove(const std::string& kind, const std::string& name, const std::string& author);
  // Makes a new revision whose policies equal those of `revision`.
  ApplyResult revert(uint64_t revision, const std::string& author);

  std::shared_ptr<const PolicySet> current() const;
  // The policies of `revision` (0: the empty set before the first one); null when it is not
  // kept (never made, or dropped beyond kMaxRevisions).
  std::shared_ptr<const PolicySet> at(uint64_t revision) const;
  std::vector<RevisionInfo> revisions() const;  // newest first
  // Unified diff of the policy YAML between two revisions (`to` 0 = current). Empty when equal;
  // nullopt when a revision is unknown.
  std::optional<std::string> diff(uint64_t from, uint64_t to) const;

 private:
  struct Revision {
    RevisionInfo info;
    std::shared_ptr<const PolicySet> set;
  };
  // `submitted`: the ids of the policies the caller sent, which the warnings are about (null:
  // the ones the change creates or updates).
  ApplyResult commitLocked(std::vector<Policy> next, const std::string& author,
                           std::string summary_prefix, bool dry_run,
                           std::unique_lock<std::timed_mutex>& lock,
                           const std::function<bool()>& cancelled = {},
                           const std::set<std::string>* submitted = nullptr);
  std::string serializeLocked(const std::vector<Revision>& revisions) const;
  const Revision* findLocked(uint64_t number) const;

  const std::string state_dir_;
  const common::TimeSource& time_;
  KnownServices known_services_;
  Inventory inventory_;
  std::function<void(std::shared_ptr<const PolicySet>)> on_change_;
  // Timed, so that a call waiting for a long commit can give up (see applyFiles).
  mutable std::timed_mutex mutex_;
  std::vector<Revision> revisions_;  // oldest first
  std::shared_ptr<const PolicySet> current_;
};

// The YAML of a whole set as one multi-document text, sorted by id (what diffs compare).
std::string policySetYaml(const std::vector<Policy>& policies);

}  // namespace meshdeck::cp
