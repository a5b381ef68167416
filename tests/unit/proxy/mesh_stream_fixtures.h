#pragma once

// Fixtures of the MeshStream tests (timer wheel, stream reads): mutual-TLS contexts from a CA
// made in memory, and two TLS MeshStreams handshaken on the two ends of a loopback connection.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream_base.hpp>
#include <memory>
#include <optional>
#include <string>

#include "proxy/timer_wheel.h"
#include "proxy/tls/mesh_stream.h"
#include "proxy/tls/tls_contexts.h"
#include "support/io_run.h"
#include "support/test_certificates.h"

namespace meshdeck::proxy::test {

// A server's and a client's TLS contexts, each with a leaf of one test CA.
struct MutualTlsContexts {
  std::unique_ptr<meshdeck::test::TestCa> ca;
  tls::TlsContextsPtr server, client;
  std::string error;  // why make() failed

  bool make(const char* ca_name, const char* server_id, const char* client_id) {
    ca = std::make_unique<meshdeck::test::TestCa>(ca_name);
    const auto server_leaf = ca->issue(server_id);
    const auto client_leaf = ca->issue(client_id);
    server = tls::TlsContexts::create({server_leaf.cert_pem, server_leaf.key_pem, ca->certPem()},
                                      &error);
    if (server)
      client = tls::TlsContexts::create({client_leaf.cert_pem, client_leaf.key_pem, ca->certPem()},
                                        &error);
    return server && client;
  }
};

// Two TLS MeshStreams on the two ends of a loopback connection, handshaken (the accepted one
// is the server): one io_context, so one wheel for both.
struct TlsLoopback {
  boost::asio::io_context io;
  std::optional<tls::MeshStream> server, client;
  bool ok = false;
  TlsLoopback(tls::TlsContexts& server_ctx, tls::TlsContexts& client_ctx) {
    boost::asio::ip::tcp::acceptor acceptor{io, {boost::asio::ip::make_address("127.0.0.1"), 0}};
    tls::MeshStream::TcpStream out(io);
    out.socket().connect(acceptor.local_endpoint());
    client.emplace(std::move(out));
    server.emplace(tls::MeshStream::TcpStream(acceptor.accept(io)));
    server->startTls(server_ctx.server());
    client->startTls(client_ctx.client());
    std::optional<boost::system::error_code> s, c;
    server->async_handshake(boost::asio::ssl::stream_base::server,
                            [&](boost::system::error_code ec) { s = ec; });
    client->async_handshake(boost::asio::ssl::stream_base::client,
                            [&](boost::system::error_code ec) { c = ec; });
    ok = runUntil([&] { return s && c; }) && !*s && !*c;
  }
  CoarseTimers& timers() { return boost::asio::use_service<CoarseTimers>(io); }
  void poll() {
    if (io.stopped()) io.restart();
    io.poll();
  }
  // Runs handlers until `done` (bounded; restarted after the handshakes ran it out of work).
  template <typename Pred>
  bool runUntil(Pred done) {
    return meshdeck::test::runIoUntil(io, done);
  }
};

}  // namespace meshdeck::proxy::test
