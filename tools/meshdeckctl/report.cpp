// meshdeckctl report: the mesh-health report of a range as one HTML file (docs/reports.md).
#include "controlplane/report/report.h"

#include <chrono>
#include <fstream>
#include <iostream>

#include "common/pki/credentials_file.h"
#include "controlplane/grpc_control_plane.h"
#include "controlplane/report/report_html.h"
#include "tools/meshdeckctl/meshdeckctl.h"
#include "tools/meshdeckctl/time_arg.h"

namespace meshdeck::tools {

int Ctl::report() {
  std::string error;
  const auto now = std::chrono::system_clock::now();
  const auto range =
      parseTimeRange(o_.since, o_.until, /*until_defaults_to_now=*/true, now, &error);
  if (!range) {
    std::cerr << "meshdeckctl: " << error << "\n";
    return 1;
  }
  // The report reads through the ControlPlane interface, as the desktop does: the same gathering
  // for both. GrpcControlPlane makes its own channel, with the credentials makeChannel() read.
  std::optional<cp::GrpcControlPlane::ClientTls> tls;
  if (!o_.credentials.empty()) {
    std::string warning;
    const auto c = pki::readCredentialsFile(o_.credentials, &error, &warning);
    if (!c) {
      std::cerr << "meshdeckctl: --credentials: " << error << "\n";
      return 1;
    }
    tls = cp::GrpcControlPlane::ClientTls{c->certificate_pem, c->key_pem, c->trust_bundle_pem};
  }
  cp::GrpcControlPlane remote(o_.server, tls, std::chrono::milliseconds(o_.timeout_ms));
  if (!remote.ping(&error)) {
    std::cerr << "meshdeckctl: cannot reach the control plane at " << o_.server << ": " << error
              << "\n";
    return 2;
  }
  cp::report::ReportOptions options;
  options.source = "control plane " + o_.server;
  const auto report = cp::report::buildReport(remote, range->since, *range->until, now, options);
  if (!report.available) {
    std::cerr << "meshdeckctl: " << report.message << "\n";
    return 1;
  }
  const auto rendered = cp::report::renderHtml(report);
  if (o_.file == "-") {
    std::cout << rendered.html;
    return 0;
  }
  std::ofstream out(o_.file, std::ios::binary | std::ios::trunc);
  out << rendered.html;
  out.close();
  if (!out) {
    std::cerr << "meshdeckctl: cannot write " << o_.file << "\n";
    return 1;
  }
  std::cout << "wrote " << o_.file << ": " << report.requests << " requests, "
            << report.edges.size() << " edges, " << report.events.size() << " events, "
            << report.checkup.size() << " checkup findings\n";
  return 0;
}

}  // namespace meshdeck::tools
