#include "tools/meshdeckctl/inject.h"

#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <fstream>
#include <iostream>
#include <regex>

#include "common/bounded_file.h"
#include "common/yaml/yaml_input.h"
#include "controlplane/kubernetes/injection_options.h"

namespace meshdeck::tools {

namespace json = boost::json;
using cp::kubernetes::InjectionSettings;

namespace {

// How a plain (unquoted) scalar reads, as kubectl's YAML reader (YAML 1.1) resolves it.
json::value resolvePlain(const std::string& s) {
  static const std::regex kInt("[-+]?(0|[1-9][0-9]*)");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"})
    if (s == t) return true;
  for (const char* f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"})
    if (s == f) return false;
  if (std::regex_match(s, kInt)) {
    try {
      return static_cast<std::int64_t>(std::stoll(s));
    } catch (const std::exception&) {
      return json::value(s);  // beyond 64 bits: kept as written
    }
  }
  if (std::regex_match(s, kFloat) && s.find_first_of("0123456789") != std::string::npos)
    return std::stod(s);
  for (const char* inf : {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})
    if (s == inf) return HUGE_VAL;
  for (const char* inf : {"-.inf", "-.Inf", "-.INF"})
    if (s == inf) return -HUGE_VAL;
  return json::value(s);
}

json::value toJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      // "?" is a plain scalar; quoted ones ("!") and explicitly tagged ones stay strings.
      return node.Tag() == "?" ? resolvePlain(node.Scalar()) : json::value(node.Scalar());
    case YAML::NodeType::Sequence: {
      json::array a;
      for (const auto& item : node) a.push_back(toJson(item));
      return a;
    }
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : node) o[kv.first.as<std::string>()] = toJson(kv.second);
      return o;
    }
  }
  return nullptr;
}

void emit(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out << YAML::Null;
      break;
    case json::kind::bool_:
      out << v.get_bool();
      break;
    case json::kind::int64:
      out << v.get_int64();
      break;
    case json::kind::uint64:
      out << v.get_uint64();
      break;
    case json::kind::double_:
      out << v.get_double();
      break;
    case json::kind::string: {
      const std::string s(v.get_string());
      // A string that would read back as another type ("false", "8080", "") is quoted.
      if (!resolvePlain(s).is_string()) out << YAML::DoubleQuoted;
      out << s;
      break;
    }
    case json::kind::array:
      out << YAML::BeginSeq;
      for (const auto& item : v.get_array()) emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::kind::object:
      out << YAML::BeginMap;
      for (const auto& kv : v.get_object()) {
        out << YAML::Key;
        emit(out, json::value(kv.key()));
        out << YAML::Value;
        emit(out, kv.value());
      }
      out << YAML::EndMap;
      break;
  }
}

std::string stringAt(const json::value& v, std::string_view key) {
  const auto* o = v.if_object();
  const auto* s = o && o->if_contains(key) ? o->at(key).if_string() : nullptr;
  return s ? std::string(*s) : std::string();
}

// The pod template of a workload (or the pod itself), null for other kinds.
json::object* podOf(json::object& doc, const std::string& kind) {
  const auto child = [](json::object* o, std::string_view key) -> json::object* {
    if (!o) return nullptr;
    auto* v = o->if_contains(key);
    return v ? v->if_object() : nullptr;
  };
  if (kind == "Pod") return &doc;
  if (kind == "Deployment" || kind == "StatefulSet" || kind == "DaemonSet" ||
      kind == "ReplicaSet" || kind == "ReplicationController" || kind == "Job")
    return child(child(&doc, "spec"), "template");
  if (kind == "CronJob")
    return child(child(child(child(&doc, "spec"), "jobTemplate"), "spec"), "template");
  return nullptr;
}

bool injectDocument(json::value& doc, const InjectionSettings& settings,
                    std::vector<InjectNote>* notes, std::string* error) {
  auto* object = doc.if_object();
  if (!object) return true;
  const std::string kind = stringAt(doc, "kind");
  if (kind.size() >= 4 && kind.compare(kind.size() - 4, 4, "List") == 0) {
    if (auto* items = object->if_contains("items"); items && items->is_array())
      for (auto& item : items->get_array())
        if (!injectDocument(item, settings, notes, error)) return false;
    return true;
  }
  auto* pod = podOf(*object, kind);
  if (!pod) return true;
  std::string name;
  if (const auto* metadata = object->if_contains("metadata")) name = stringAt(*metadata, "name");
  std::string lower = kind;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  InjectNote note{lower + "/" + (name.empty() ? "?" : name), false, {}};
  const auto r = cp::kubernetes::computeInjection(*pod, settings);
  note.injected = r.injected;
  note.reason = r.reason;
  if (r.injected) {
    json::value target = std::move(*pod);
    std::string why;
    if (!cp::kubernetes::applyPatch(target, r.patch, &why)) {
      *error = note.workload + ": " + why;
      return false;
    }
    *pod = std::move(target.as_object());
  }
  notes->push_back(std::move(note));
  return true;
}

}  // namespace

bool injectManifests(const std::string& yaml, const std::string& source_name,
                     const InjectionSettings& settings, std::string* out,
                     std::vector<InjectNote>* notes, std::string* error) {
  const auto loaded = common::loadYaml(yaml, source_name);
  if (!loaded.ok()) {
    *error = loaded.error->toString();
    return false;
  }
  YAML::Emitter emitter;
  emitter.SetIndent(2);
  bool first = true;
  for (const auto& node : loaded.documents) {
    if (node.IsNull()) continue;  // an empty document ("---" at the end)
    json::value doc;
    try {
      doc = toJson(node);
    } catch (const YAML::Exception& e) {
      *error = source_name + ": " + e.what();
      return false;
    }
    if (!injectDocument(doc, settings, notes, error)) return false;
    if (!first) emitter << YAML::Newline;
    first = false;
    emitter << YAML::BeginDoc;
    emit(emitter, doc);
  }
  if (!emitter.good()) {
    *error = "writing YAML: " + emitter.GetLastError();
    return false;
  }
  *out = std::string(emitter.c_str()) + "\n";
  return true;
}

CLI::App* declareInjectCommand(CLI::App& app, InjectOptions& o) {
  auto* inject = app.add_subcommand(
      "inject",
      "Add the Meshdeck sidecar to the pod templates of a manifest (no control plane "
      "needed)");
  inject->add_option("-f,--filename", o.file, "Manifest (YAML, one or many documents; - for stdin)")
      ->required();
  inject->add_option("-o,--output", o.output, "File to write (- for stdout)")
      ->capture_default_str();
  cp::kubernetes::declareInjectionOptions(*inject, o.settings, true);
  return inject;
}

int runInject(const InjectOptions& o) {
  std::string text, error;
  if (o.file == "-") {
    char buffer[65536];
    while (std::cin.read(buffer, sizeof buffer) || std::cin.gcount() > 0) {
      text.append(buffer, static_cast<size_t>(std::cin.gcount()));
      if (text.size() > common::YamlLimits::kMaxBytes) break;  // loadYaml() refuses it
    }
  } else if (!common::readFileLimited(o.file, common::YamlLimits::kMaxBytes, &text, &error)) {
    std::cerr << "meshdeckctl inject: " << error << "\n";
    return 1;
  }
  if (const auto bad = o.settings.check(); !bad.empty()) {
    std::cerr << "meshdeckctl inject: " << bad << "\n";
    return 1;
  }
  std::string out;
  std::vector<InjectNote> notes;
  if (!injectManifests(text, o.file == "-" ? "stdin" : o.file, o.settings, &out, &notes, &error)) {
    std::cerr << "meshdeckctl inject: " << error << "\n";
    return 1;
  }
  for (const auto& n : notes)
    std::cerr << n.workload << ": " << (n.injected ? n.reason : "left alone: " + n.reason) << "\n";
  if (o.output == "-") {
    std::cout << out;
    return 0;
  }
  std::ofstream file(o.output, std::ios::binary | std::ios::trunc);
  file << out;
  if (!file.flush()) {
    std::cerr << "meshdeckctl inject: cannot write " << o.output << "\n";
    return 1;
  }
  return 0;
}

}  // namespace meshdeck::tools
