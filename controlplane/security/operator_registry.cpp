#include "controlplane/security/operator_registry.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <set>

#include "common/atomic_file.h"
#include "common/bounded_file.h"

namespace meshdeck::cp::security {
namespace json = boost::json;

bool validOperatorName(std::string_view name) {
  if (name.empty() || name.size() > 63 || !std::isalnum(static_cast<unsigned char>(name[0])))
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

std::string operatorSpiffeId(std::string_view trust_domain, std::string_view name) {
  return "spiffe://" + std::string(trust_domain) + "/operator/" + std::string(name);
}

std::optional<std::string> operatorNameOf(std::string_view spiffe_id,
                                          std::string_view trust_domain) {
  const std::string prefix = "spiffe://" + std::string(trust_domain) + "/operator/";
  if (spiffe_id.substr(0, prefix.size()) != prefix) return std::nullopt;
  const std::string name(spiffe_id.substr(prefix.size()));
  if (!validOperatorName(name)) return std::nullopt;
  return name;
}

namespace {
bool validSerial(std::string_view s) {
  return !s.empty() && s.size() <= 40 && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
  });
}

bool fail(std::string* error, std::string text) {
  if (error) *error = std::move(text);
  return false;
}
}  // namespace

std::optional<std::vector<Operator>> OperatorRegistry::parse(std::string_view text,
                                                             std::string* error) {
  json::error_code ec;
  const json::value doc = json::parse(text, ec);
  if (ec) {
    fail(error, "not JSON (" + ec.message() + ")");
    return std::nullopt;
  }
  const auto* root = doc.if_object();
  if (!root) {
    fail(error, "the document is not a JSON object");
    return std::nullopt;
  }
  for (const auto& [key, value] : *root) {
    if (key != "version" && key != "operators") {
      fail(error, "unknown key \"" + std::string(key) + "\"");
      return std::nullopt;
    }
  }
  const auto* version = root->if_contains("version");
  if (!version || !version->is_int64() || version->as_int64() != 1) {
    fail(error, "\"version\" must be 1");
    return std::nullopt;
  }
  const auto* list = root->if_contains("operators");
  if (!list || !list->is_array()) {
    fail(error, "\"operators\" must be a list");
    return std::nullopt;
  }
  if (list->as_array().size() > kMaxOperators) {
    fail(error, "more than " + std::to_string(kMaxOperators) + " operators");
    return std::nullopt;
  }
  std::vector<Operator> out;
  std::set<std::string> names, serials;
  size_t index = 0;
  for (const auto& item : list->as_array()) {
    const std::string where = "operators[" + std::to_string(index++) + "]";
    const auto* o = item.if_object();
    if (!o) {
      fail(error, where + " is not an object");
      return std::nullopt;
    }
    Operator op;
    bool has_name = false, has_role = false, has_serials = false, has_revoked = false;
    for (const auto& [key, value] : *o) {
      if (key == "name" && value.is_string()) {
        op.name = std::string(value.as_string());
        has_name = validOperatorName(op.name);
      } else if (key == "role" && value.is_string()) {
        const auto role = parseRole(std::string_view(value.as_string()));
        if (role) op.role = *role;
        has_role = role.has_value();
      } else if (key == "revoked" && value.is_bool()) {
        op.revoked = value.as_bool();
        has_revoked = true;
      } else if (key == "created" && value.is_string()) {
        op.created = std::string(value.as_string());
      } else if (key == "serials" && value.is_array()) {
        has_serials = value.as_array().size() <= kMaxSerialsPerOperator;
        for (const auto& s : value.as_array()) {
          if (!s.is_string() || !validSerial(std::string_view(s.as_string()))) {
            fail(error, where + ".serials: not an upper-case hex serial");
            return std::nullopt;
          }
          op.serials.emplace_back(s.as_string());
        }
      } else {
        fail(error, where + ": unknown key or wrong type \"" + std::string(key) + "\"");
        return std::nullopt;
      }
    }
    if (!has_name) {
      fail(error, where + ": missing or invalid \"name\"");
      return std::nullopt;
    }
    if (!has_role) {
      fail(error, where + " (" + op.name + "): missing or invalid \"role\"");
      return std::nullopt;
    }
    if (!has_serials || !has_revoked) {
      fail(error, where + " (" + op.name + "): missing \"serials\" or \"revoked\"");
      return std::nullopt;
    }
    if (!names.insert(op.name).second) {
      fail(error, where + ": operator \"" + op.name + "\" appears twice");
      return std::nullopt;
    }
    for (const auto& s : op.serials) {
      if (!serials.insert(s).second) {
        fail(error, where + ": serial " + s + " appears twice");
        return std::nullopt;
      }
    }
    out.push_back(std::move(op));
  }
  return out;
}

std::unique_ptr<OperatorRegistry> OperatorRegistry::open(const std::filesystem::path& path,
                                                         std::string* error) {
  std::unique_ptr<OperatorRegistry> r(new OperatorRegistry(path));
  if (path.empty()) return r;
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return r;
    fail(error, path.string() + ": " + std::strerror(errno));
    return nullptr;
  }
  if (!S_ISREG(st.st_mode)) {
    fail(error, path.string() + " is not a regular file");
    return nullptr;
  }
  if (st.st_uid != ::geteuid()) {
    fail(error, path.string() + " belongs to another user (uid " + std::to_string(st.st_uid) +
                    "); refusing to use it");
    return nullptr;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    fail(error, path.string() + " is writable by group or others; refusing to use it (chmod 600 " +
                    path.string() + ")");
    return nullptr;
  }
  std::string text;
  if (!common::readFileLimited(path, kMaxFileBytes, &text, error)) return nullptr;
  std::string why;
  auto operators = parse(text, &why);
  if (!operators) {
    fail(error, path.string() + " is not a valid operator registry: " + why);
    return nullptr;
  }
  r->operators_ = std::move(*operators);
  return r;
}

std::vector<Operator> OperatorRegistry::list() const {
  std::lock_guard lock(mu_);
  return operators_;
}

std::optional<Operator> OperatorRegistry::find(std::string_view name) const {
  std::lock_guard lock(mu_);
  for (const auto& o : operators_)
    if (o.name == name) return o;
  return std::nullopt;
}

std::optional<Operator> OperatorRegistry::findBySerial(std::string_view serial_hex) const {
  std::lock_guard lock(mu_);
  for (const auto& o : operators_)
    if (std::find(o.serials.begin(), o.serials.end(), serial_hex) != o.serials.end()) return o;
  return std::nullopt;
}

bool OperatorRegistry::add(const std::string& name, Role role, const std::string& serial_hex,
                           const std::string& created, std::string* error) {
  if (!validOperatorName(name))
    return fail(error, "\"" + name +
                           "\" is not an operator name (1-63 of a-z 0-9 . _ -, starting with a "
                           "letter or digit)");
  if (!validSerial(serial_hex)) return fail(error, "invalid certificate serial");
  std::lock_guard lock(mu_);
  auto next = operators_;
  auto it =
      std::find_if(next.begin(), next.end(), [&](const Operator& o) { return o.name == name; });
  if (it == next.end()) {
    if (next.size() >= kMaxOperators)
      return fail(error,
                  "the registry holds " + std::to_string(kMaxOperators) + " operators already");
    next.push_back(Operator{name, role, {}, false, created});
    it = next.end() - 1;
  }
  if (it->revoked)
    return fail(error, "operator \"" + name +
                           "\" was revoked; a revoked name is not reused (choose another name)");
  it->role = role;
  it->serials.push_back(serial_hex);
  if (it->serials.size() > kMaxSerialsPerOperator) it->serials.erase(it->serials.begin());
  if (!persistLocked(next, error)) return false;
  operators_ = std::move(next);
  return true;
}

bool OperatorRegistry::revoke(const std::string& name, std::string* error) {
  std::lock_guard lock(mu_);
  auto next = operators_;
  auto it =
      std::find_if(next.begin(), next.end(), [&](const Operator& o) { return o.name == name; });
  if (it == next.end()) return fail(error, "no operator \"" + name + "\"");
  it->revoked = true;
  if (!persistLocked(next, error)) return false;
  operators_ = std::move(next);
  return true;
}

bool OperatorRegistry::persistLocked(const std::vector<Operator>& operators,
                                     std::string* error) const {
  if (path_.empty()) return true;
  json::array list;
  for (const auto& o : operators) {
    json::array serials;
    for (const auto& s : o.serials) serials.emplace_back(s);
    list.push_back(json::object{{"name", o.name},
                                {"role", std::string(toString(o.role))},
                                {"serials", std::move(serials)},
                                {"revoked", o.revoked},
                                {"created", o.created}});
  }
  const json::object doc{{"version", 1}, {"operators", std::move(list)}};
  std::string why;
  if (!common::writeFileAtomically(path_, json::serialize(doc) + "\n", &why, 0600))
    return fail(error, "cannot write " + path_.string() + ": " + why);
  return true;
}

}  // namespace meshdeck::cp::security
