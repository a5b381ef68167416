// meshdeckctl's connection: plaintext, or mutual TLS with an operator's credentials file.
#include <grpcpp/grpcpp.h>

#include "common/input_limits.h"
#include "common/pki/credentials_file.h"
#include "tools/meshdeckctl/meshdeckctl.h"

namespace meshdeck::tools {

std::shared_ptr<grpc::Channel> makeChannel(CtlOptions& o, std::string* error,
                                           std::string* warning) {
  // Our limits, not gRPC's defaults (4 MiB received): requests up to what the control plane
  // accepts, responses up to a large mesh's exported snapshot.
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(static_cast<int>(common::limits::kMaxReceiveMessageBytes));
  args.SetMaxReceiveMessageSize(static_cast<int>(common::limits::kMaxManagementResponseBytes));
  if (o.credentials.empty())
    return grpc::CreateCustomChannel(o.server, grpc::InsecureChannelCredentials(), args);
  const auto c = pki::readCredentialsFile(o.credentials, error, warning);
  if (!c) return nullptr;
  if (!o.server_given) o.server = c->server;
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = c->trust_bundle_pem;
  ssl.pem_private_key = c->key_pem;
  ssl.pem_cert_chain = c->certificate_pem;
  // The control plane's certificate names it by this DNS name, whatever address it is reached
  // at (controlplane/README.md, "Ports and identity").
  args.SetSslTargetNameOverride("meshdeck-controlplane");
  return grpc::CreateCustomChannel(o.server, grpc::SslCredentials(ssl), args);
}

}  // namespace meshdeck::tools
