#include "controlplane/remote_connection.h"

#include "common/pki/contexts_file.h"
#include "common/pki/credentials_file.h"

namespace meshdeck::cp {

std::string RemoteConnection::description() const {
  std::string s = "Remote control plane " + address;
  if (!context.empty()) s += " (context " + context + ")";
  if (!caller.error.empty())
    s += ", identity unknown: " + caller.error;
  else if (caller.tls)
    s += ", as " + caller.identity + " (" + caller.role + ")";
  else
    s += ", plaintext: as the local admin (" + caller.role + ")";
  return s;
}

std::optional<RemoteConnection> connectRemote(const std::string& connect,
                                              const std::string& credentials, std::string* error,
                                              std::string* warning) {
  RemoteConnection r;
  r.credentials_file = credentials;
  if (!connect.empty()) {
    const auto path = pki::contextsPath();
    std::string why;
    const auto config = pki::readContexts(path, &why);
    if (!config) {
      *error = "--connect: " + why;
      return std::nullopt;
    }
    if (const auto* c = config->find(connect)) {
      r.context = connect;
      if (r.credentials_file.empty()) r.credentials_file = c->credentials;
      r.address = c->server;
    } else if (connect.find(':') != std::string::npos) {
      r.address = connect;
    } else {
      *error = "--connect: no context \"" + connect + "\" in " + path.string() +
               ", and not HOST:PORT (add one with meshdeckctl config add-context " + connect +
               " --credentials FILE)";
      return std::nullopt;
    }
  }
  std::optional<GrpcControlPlane::ClientTls> tls;
  if (!r.credentials_file.empty()) {
    std::string why;
    const auto c = pki::readCredentialsFile(r.credentials_file, &why, warning);
    if (!c) {
      *error = "--credentials: " + why;
      return std::nullopt;
    }
    if (r.address.empty()) r.address = c->server;
    tls = GrpcControlPlane::ClientTls{c->certificate_pem, c->key_pem, c->trust_bundle_pem};
  }
  r.control_plane = std::make_shared<GrpcControlPlane>(r.address, tls);
  std::string why;
  if (!r.control_plane->ping(&why)) {
    *error = "cannot reach the control plane at " + r.address + ": " + why;
    if (tls)
      *error += " (is " + r.address + " the control plane's TLS port, and is the certificate of " +
                r.credentials_file + " from this mesh's CA, unexpired and not revoked?)";
    return std::nullopt;
  }
  r.caller = r.control_plane->whoAmI();
  return r;
}

std::shared_ptr<ControlPlane> openRemote(const std::string& connect, const std::string& credentials,
                                         std::string* description, std::string* error,
                                         std::string* warning) {
  auto remote = connectRemote(connect, credentials, error, warning);
  if (!remote) return nullptr;
  *description = remote->description();
  return std::move(remote->control_plane);
}

}  // namespace meshdeck::cp
