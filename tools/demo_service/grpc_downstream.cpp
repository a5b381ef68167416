#include "tools/demo_service/grpc_downstream.h"

#include <grpcpp/grpcpp.h>

#include <boost/asio/post.hpp>

#include "common/telemetry/grpc_status.h"
#include "meshdeck/demo/v1/demo.grpc.pb.h"
#include "tools/demo_service/behaviour.h"

namespace meshdeck::tools {

namespace demo = meshdeck::demo::v1;

struct GrpcDownstream::Channel {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<demo::Demo::Stub> stub;
};

std::shared_ptr<GrpcDownstream> GrpcDownstream::create(boost::asio::any_io_executor executor,
                                                       std::optional<HttpUrl> proxy) {
  return std::shared_ptr<GrpcDownstream>(new GrpcDownstream(std::move(executor), std::move(proxy)));
}

GrpcDownstream::GrpcDownstream(boost::asio::any_io_executor executor, std::optional<HttpUrl> proxy)
    : executor_(std::move(executor)), proxy_(std::move(proxy)) {}

GrpcDownstream::~GrpcDownstream() = default;

void GrpcDownstream::call(const HttpUrl& url, const DownstreamClient::Headers& headers,
                          std::chrono::nanoseconds timeout, DownstreamClient::Callback done) {
  std::shared_ptr<Channel> channel;
  {
    std::lock_guard lock(mutex_);
    auto& slot = channels_[url.authority];
    if (!slot) {
      slot = std::make_shared<Channel>();
      grpc::ChannelArguments args;
      // The sidecar routes on :authority; straight to a server it is the URL's authority too.
      args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, url.authority);
      // Connection failures answer at once (UNAVAILABLE) instead of waiting for the deadline.
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      const std::string target = proxy_ ? proxy_->host + ":" + std::to_string(proxy_->port)
                                        : url.host + ":" + std::to_string(url.port);
      slot->channel = grpc::CreateCustomChannel(
          target.find(':') != target.rfind(':') ? "ipv6:[" + target + "]" : target,
          grpc::InsecureChannelCredentials(), args);
      slot->stub = demo::Demo::NewStub(slot->channel);
    }
    channel = slot;
  }
  struct Call {
    grpc::ClientContext context;
    demo::CallRequest request;
    demo::CallResponse response;
    DownstreamResult result;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  };
  auto c = std::make_shared<Call>();
  c->result.url = callUrlText(url);
  c->request.set_path(url.target);
  c->context.set_deadline(std::chrono::system_clock::now() +
                          std::chrono::duration_cast<std::chrono::system_clock::duration>(timeout));
  for (const auto& [name, value] : headers) c->context.AddMetadata(name, value);
  channel->stub->async()->Call(
      &c->context, &c->request, &c->response,
      [self = shared_from_this(), c, channel, done = std::move(done)](grpc::Status status) mutable {
        const auto code = static_cast<uint32_t>(status.error_code());
        c->result.latency = std::chrono::steady_clock::now() - c->start;
        c->result.grpc_status = code;
        c->result.status = common::grpcStatusHttpEquivalent(code);
        if (code == common::kGrpcUnavailable &&
            status.error_message().rfind("failed to connect", 0) == 0) {
          // gRPC's own "failed to connect to all addresses": nothing answered.
          c->result.status = 0;
          c->result.error = "connect";
        }
        boost::asio::post(self->executor_,
                          [c, done = std::move(done)]() mutable { done(std::move(c->result)); });
      });
}

}  // namespace meshdeck::tools
