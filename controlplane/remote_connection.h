#pragma once

#include <memory>
#include <optional>
#include <string>

#include "controlplane/api/types.h"
#include "controlplane/grpc_control_plane.h"

namespace meshdeck::cp {

// A remote control plane reached the way `meshdeck --connect NAME|HOST:PORT [--credentials
// FILE]` asks (docs/ui.md): answering, and asked who we are.
struct RemoteConnection {
  std::shared_ptr<GrpcControlPlane> control_plane;
  std::string address;           // host:port
  std::string context;           // the context used, "" for none
  std::string credentials_file;  // "" : plaintext
  CallerIdentity caller;         // Mesh.WhoAmI
  // "Remote control plane ADDR (context NAME), as alice (viewer)", for the window.
  std::string description() const;
};

// `connect`: a context of the contexts file (pki::contextsPath()) when one has that name (its
// credentials file and server: the file's when the context names none), else HOST:PORT.
// `credentials` overrides a context's file, and alone connects to the file's server. Pings the
// control plane, then asks Mesh.WhoAmI. Nothing with the reason in `error`: an unknown context
// that is not HOST:PORT, an unreadable contexts or credentials file, no answer (over TLS: with
// the likely causes). `warning`: a credentials file readable by others.
std::optional<RemoteConnection> connectRemote(const std::string& connect,
                                              const std::string& credentials, std::string* error,
                                              std::string* warning);

// The same, in the shape the desktop's window takes (ui::MainWindowOptions::connect_remote):
// the control plane and, in `description`, RemoteConnection::description(); nullptr with the
// reason in `error`.
std::shared_ptr<ControlPlane> openRemote(const std::string& connect, const std::string& credentials,
                                         std::string* description, std::string* error,
                                         std::string* warning);

}  // namespace meshdeck::cp
