#include "common/pki/credentials_file.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include "common/atomic_file.h"
#include "common/bounded_file.h"

namespace meshdeck::pki {

std::string credentialsToYaml(const Credentials& c) {
  YAML::Emitter e;
  e << YAML::Comment(
           "Meshdeck operator credentials: keep this file private (mode 0600). Use it with "
           "meshdeckctl --credentials FILE.")
    << YAML::BeginMap;
  e << YAML::Key << "apiVersion" << YAML::Value << "meshdeck.io/v1alpha1";
  e << YAML::Key << "kind" << YAML::Value << "Credentials";
  e << YAML::Key << "operator" << YAML::Value << c.operator_name;
  e << YAML::Key << "role" << YAML::Value << c.role;
  e << YAML::Key << "server" << YAML::Value << c.server;
  e << YAML::Key << "certificate" << YAML::Value << YAML::Literal << c.certificate_pem;
  e << YAML::Key << "key" << YAML::Value << YAML::Literal << c.key_pem;
  e << YAML::Key << "trustBundle" << YAML::Value << YAML::Literal << c.trust_bundle_pem;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

std::optional<Credentials> parseCredentials(const std::string& text, std::string* error) {
  YAML::Node doc;
  try {
    doc = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    *error = "not YAML (" + std::string(e.what()) + ")";
    return std::nullopt;
  }
  if (!doc.IsMap() || !doc["kind"] || !doc["kind"].IsScalar() ||
      doc["kind"].Scalar() != "Credentials") {
    *error = "not a Meshdeck credentials file (kind: Credentials expected)";
    return std::nullopt;
  }
  Credentials c;
  struct Field {
    const char* key;
    std::string* out;
    bool pem;
  };
  for (const Field& f :
       {Field{"operator", &c.operator_name, false}, Field{"server", &c.server, false},
        Field{"certificate", &c.certificate_pem, true}, Field{"key", &c.key_pem, true},
        Field{"trustBundle", &c.trust_bundle_pem, true}}) {
    const auto n = doc[f.key];
    if (!n || !n.IsScalar() || n.Scalar().empty()) {
      *error = std::string("missing field \"") + f.key + "\"";
      return std::nullopt;
    }
    *f.out = n.Scalar();
    if (f.pem && f.out->find("-----BEGIN ") == std::string::npos) {
      *error = std::string("field \"") + f.key + "\" is not PEM";
      return std::nullopt;
    }
  }
  if (const auto r = doc["role"]; r && r.IsScalar()) c.role = r.Scalar();
  return c;
}

bool writeCredentialsFile(const std::filesystem::path& path, const Credentials& c,
                          std::string* error) {
  return common::writeFileAtomically(path, credentialsToYaml(c), error, 0600);
}

std::optional<Credentials> readCredentialsFile(const std::filesystem::path& path,
                                               std::string* error, std::string* warning) {
  std::string text;
  if (!common::readFileLimited(path, 1 << 20, &text, error)) return std::nullopt;
  struct stat st {};
  if (warning && ::stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
    *warning = path.string() +
               " is readable or writable by group or others and holds a private key; run chmod "
               "600 " +
               path.string();
  std::string why;
  auto c = parseCredentials(text, &why);
  if (!c) *error = path.string() + ": " + why;
  return c;
}

}  // namespace meshdeck::pki
