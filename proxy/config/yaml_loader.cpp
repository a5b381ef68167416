#include "proxy/config/yaml_loader.h"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <cassert>
#include <charconv>
#include <cmath>
#include <map>

#include "common/duration.h"
#include "common/yaml/yaml_input.h"
#include "meshdeck/v1/discovery.pb.h"
#include "proxy/config/config_compiler.h"

namespace meshdeck::proxy {
namespace {

namespace gp = google::protobuf;
namespace json = boost::json;

class Converter {
 public:
  explicit Converter(std::string file) : file_(std::move(file)) {}

  bool message(const YAML::Node& node, const gp::Descriptor* type, const std::string& path,
               json::value* out) {
    if (type->full_name() == "google.protobuf.Duration") return duration(node, path, out);
    if (node.IsNull()) {
      *out = json::object();
      return true;
    }
    if (!node.IsMap())
      return fail(node, path, fmt::format("expected a mapping ({})", type->name()));
    json::object obj;
    std::map<const gp::OneofDescriptor*, std::string> oneofs;
    for (const auto& kv : node) {
      const std::string key = kv.first.as<std::string>();
      const gp::FieldDescriptor* field = type->FindFieldByName(key);
      if (!field) field = type->FindFieldByCamelcaseName(key);
      const std::string fpath = path.empty() ? key : path + "." + key;
      if (!field) {
        std::string known;
        for (int i = 0; i < type->field_count(); ++i)
          known += (i ? ", " : "") + type->field(i)->name();
        return fail(kv.first, fpath, fmt::format("unknown field (expected one of: {})", known));
      }
      if (const auto* oneof = field->real_containing_oneof()) {
        auto [it, fresh] = oneofs.emplace(oneof, key);
        if (!fresh)
          return fail(kv.first, fpath,
                      fmt::format("only one of the {} fields may be set (already set: {})",
                                  oneof->name(), it->second));
      }
      json::value v;
      positions_[path.empty() ? field->name() : path + "." + field->name()] = kv.first.Mark();
      if (!fieldValue(kv.second, field, fpath, &v)) return false;
      obj[field->name()] = std::move(v);
    }
    *out = std::move(obj);
    return true;
  }

  const common::LocatedError& error() const { return error_; }
  // Where each field path (as the compiler names it) was written.
  const std::map<std::string, YAML::Mark>& positions() const { return positions_; }

 private:
  bool fail(const YAML::Node& node, const std::string& path, const std::string& message) {
    // An empty path (the document itself) leaves the field out.
    error_ = common::yamlErrorAt(file_, node, path, message);
    return false;
  }

  bool fieldValue(const YAML::Node& node, const gp::FieldDescriptor* field, const std::string& path,
                  json::value* out) {
    if (field->is_map()) {
      if (!node.IsMap()) return fail(node, path, "expected a mapping");
      const auto* value_field = field->message_type()->FindFieldByName("value");
      json::object obj;
      for (const auto& kv : node) {
        json::value v;
        const std::string key = kv.first.as<std::string>();
        if (!single(kv.second, value_field, path + "." + key, &v)) return false;
        obj[key] = std::move(v);
      }
      *out = std::move(obj);
      return true;
    }
    if (field->is_repeated()) {
      if (!node.IsSequence()) return fail(node, path, "expected a list");
      json::array arr;
      for (size_t i = 0; i < node.size(); ++i) {
        json::value v;
        positions_[fmt::format("{}[{}]", path, i)] = node[i].Mark();
        if (!single(node[i], field, fmt::format("{}[{}]", path, i), &v)) return false;
        arr.push_back(std::move(v));
      }
      *out = std::move(arr);
      return true;
    }
    return single(node, field, path, out);
  }

  bool scalar(const YAML::Node& node, const std::string& path, std::string* text) {
    if (!node.IsScalar()) return fail(node, path, "expected a single value");
    *text = node.Scalar();
    return true;
  }

  bool single(const YAML::Node& node, const gp::FieldDescriptor* field, const std::string& path,
              json::value* out) {
    std::string text;
    switch (field->cpp_type()) {
      case gp::FieldDescriptor::CPPTYPE_MESSAGE:
        return message(node, field->message_type(), path, out);
      case gp::FieldDescriptor::CPPTYPE_STRING:
        if (!scalar(node, path, &text)) return false;
        *out = text;
        return true;
      case gp::FieldDescriptor::CPPTYPE_BOOL:
        if (!scalar(node, path, &text)) return false;
        if (text == "true" || text == "yes" || text == "on")
          *out = true;
        else if (text == "false" || text == "no" || text == "off")
          *out = false;
        else
          return fail(node, path, fmt::format("\"{}\" is not true or false", text));
        return true;
      case gp::FieldDescriptor::CPPTYPE_ENUM: {
        if (!scalar(node, path, &text)) return false;
        std::string upper = text;
        for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (!field->enum_type()->FindValueByName(upper)) {
          std::string known;
          for (int i = 0; i < field->enum_type()->value_count(); ++i)
            known += (i ? ", " : "") + field->enum_type()->value(i)->name();
          return fail(node, path, fmt::format("unknown value \"{}\" (expected {})", text, known));
        }
        *out = upper;
        return true;
      }
      case gp::FieldDescriptor::CPPTYPE_DOUBLE:
      case gp::FieldDescriptor::CPPTYPE_FLOAT: {
        if (!scalar(node, path, &text)) return false;
        double v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc{} || end != text.data() + text.size() || !std::isfinite(v))
          return fail(node, path, fmt::format("\"{}\" is not a number", text));
        *out = v;
        return true;
      }
      default: {
        if (!scalar(node, path, &text)) return false;
        const bool is_unsigned = field->cpp_type() == gp::FieldDescriptor::CPPTYPE_UINT32 ||
                                 field->cpp_type() == gp::FieldDescriptor::CPPTYPE_UINT64;
        const bool is_32 = field->cpp_type() == gp::FieldDescriptor::CPPTYPE_UINT32 ||
                           field->cpp_type() == gp::FieldDescriptor::CPPTYPE_INT32;
        if (is_unsigned) {
          uint64_t v = 0;
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
          if (ec != std::errc{} || end != text.data() + text.size() || (is_32 && v > UINT32_MAX))
            return fail(node, path,
                        fmt::format("\"{}\" is not a whole number in 0..{}", text,
                                    is_32 ? uint64_t{UINT32_MAX} : UINT64_MAX));
          *out = v;
        } else {
          int64_t v = 0;
          auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
          if (ec != std::errc{} || end != text.data() + text.size() ||
              (is_32 && (v > INT32_MAX || v < INT32_MIN)))
            return fail(node, path, fmt::format("\"{}\" is not a whole number", text));
          *out = v;
        }
        return true;
      }
    }
  }

  bool duration(const YAML::Node& node, const std::string& path, json::value* out) {
    std::string text;
    if (!scalar(node, path, &text)) return false;
    const auto d = common::parseDuration(text);
    if (!d)
      return fail(node, path,
                  fmt::format("\"{}\" is not a duration (write e.g. 250ms, 1.5s, 2m)", text));
    // The proto JSON form: seconds with up to nine fractional digits and an "s".
    const auto ns = d->count();
    *out = fmt::format("{}.{:09d}s", ns / 1'000'000'000, ns % 1'000'000'000);
    return true;
  }

  std::string file_;
  common::LocatedError error_;
  std::map<std::string, YAML::Mark> positions_;
};

// Places each compiler error (a field path, no position) in `file` at the longest known prefix
// of its path.
void locate(std::vector<common::LocatedError>* errors, const std::string& file,
            const std::map<std::string, YAML::Mark>& positions) {
  for (auto& e : *errors) {
    e.file = file;
    std::string path = e.field;
    for (;;) {
      auto it = positions.find(path);
      if (it != positions.end()) {
        e = common::yamlErrorAt(file, it->second, std::move(e.field), std::move(e.message));
        break;
      }
      const auto cut = path.find_last_of(".[");
      if (cut == std::string::npos || cut == 0) break;
      path = path.substr(0, cut);
    }
  }
}

// Reads and removes the top-level `tls:` section (file paths, not part of ProxyConfig).
bool takeTlsSection(YAML::Node& root, const std::string& file, TlsFiles* out,
                    common::LocatedError* error) {
  if (!root.IsMap() || !root["tls"]) return true;
  const YAML::Node section = root["tls"];
  if (!section.IsMap()) {
    *error =
        common::yamlErrorAt(file, section, "tls", "expected a mapping (cert, key, trust_bundle)");
    return false;
  }
  TlsFiles files;
  const std::filesystem::path base = std::filesystem::path(file).parent_path();
  for (const auto& kv : section) {
    const std::string key = kv.first.as<std::string>();
    std::filesystem::path* target = key == "cert"           ? &files.cert
                                    : key == "key"          ? &files.key
                                    : key == "trust_bundle" ? &files.trust_bundle
                                                            : nullptr;
    if (!target) {
      *error = common::yamlErrorAt(file, kv.first, "tls." + key,
                                   "unknown field (expected one of: cert, key, trust_bundle)");
      return false;
    }
    if (!kv.second.IsScalar() || kv.second.Scalar().empty()) {
      *error = common::yamlErrorAt(file, kv.second, "tls." + key, "expected a file path");
      return false;
    }
    std::filesystem::path p = kv.second.Scalar();
    *target = p.is_absolute() || base.empty() ? p : base / p;
  }
  for (const auto& [name, path] :
       {std::pair<const char*, const std::filesystem::path*>{"cert", &files.cert},
        {"key", &files.key},
        {"trust_bundle", &files.trust_bundle}}) {
    if (path->empty()) {
      *error = common::yamlErrorAt(file, section, std::string("tls.") + name, "required");
      return false;
    }
  }
  root.remove("tls");
  if (out) *out = std::move(files);
  return true;
}

bool parseLoaded(const common::YamlDocuments& loaded, const std::string& file_name,
                 meshdeck::v1::ProxyConfig* out, std::vector<common::LocatedError>* errors,
                 TlsFiles* tls) {
  assert(out != nullptr && errors != nullptr);
  // Limits, encoding and syntax are checked before any walk (the message names the limit).
  if (!loaded.ok()) {
    errors->push_back(*loaded.error);
    return false;
  }
  YAML::Node root = loaded.first();
  Converter converter(file_name);
  json::value value;
  bool ok = false;
  TlsFiles tls_files;
  try {
    common::LocatedError tls_error;
    if (!takeTlsSection(root, file_name, &tls_files, &tls_error)) {
      errors->push_back(std::move(tls_error));
      return false;
    }
    ok = converter.message(root, meshdeck::v1::ProxyConfig::descriptor(), "", &value);
  } catch (const YAML::Exception& e) {
    errors->push_back(common::yamlErrorAt(file_name, e.mark, "", e.msg));
    return false;
  }
  if (!ok) {
    errors->push_back(converter.error());
    return false;
  }
  meshdeck::v1::ProxyConfig parsed;
  const auto status = gp::util::JsonStringToMessage(json::serialize(value), &parsed);
  if (!status.ok()) {
    errors->push_back(common::LocatedError{file_name, 0, 0, "", status.ToString()});
    return false;
  }
  // Semantic checks (references, ranges, regexes) run here too, so their errors can point at
  // the line that caused them; the proxy compiles the config again when it applies it.
  std::vector<common::LocatedError> problems;
  if (!compileConfig(parsed, &problems)) {
    assert(!problems.empty());
    locate(&problems, file_name, converter.positions());
    errors->insert(errors->end(), problems.begin(), problems.end());
    return false;
  }
  *out = std::move(parsed);
  if (tls) *tls = std::move(tls_files);
  return true;
}

}  // namespace

bool parseProxyConfigYaml(const std::string& text, const std::string& file_name,
                          meshdeck::v1::ProxyConfig* out, std::vector<common::LocatedError>* errors,
                          TlsFiles* tls) {
  return parseLoaded(common::loadYaml(text, file_name), file_name, out, errors, tls);
}

bool loadProxyConfigFile(const std::filesystem::path& path, meshdeck::v1::ProxyConfig* out,
                         std::vector<common::LocatedError>* errors, TlsFiles* tls) {
  return parseLoaded(common::loadYamlFile(path), path.string(), out, errors, tls);
}

}  // namespace meshdeck::proxy
