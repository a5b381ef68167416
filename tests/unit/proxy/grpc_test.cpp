// gRPC semantics the proxy applies (proxy/http/grpc.h, proxy/policy/retry_policy.h): which
// requests are gRPC calls, a call's status, grpc-timeout in both directions, and retries by
// status. Hostile values included; no sockets.
#include "proxy/http/grpc.h"

#include <QtTest>
#include <chrono>
#include <string>

#include "common/telemetry/grpc_status.h"
#include "proxy/policy/retry_policy.h"
#include "proxy/retry_state.h"

using namespace meshdeck;
using namespace meshdeck::proxy;
using namespace std::chrono_literals;

class GrpcTest : public QObject {
  Q_OBJECT

 private slots:
  void contentTypeClassifiesTheCall() {
    QVERIFY(isGrpcContentType("application/grpc"));
    QVERIFY(isGrpcContentType("application/grpc+proto"));
    QVERIFY(isGrpcContentType("application/grpc-web"));  // starts with it: gRPC-Web too
    QVERIFY(isGrpcContentType("Application/GRPC"));
    QVERIFY(!isGrpcContentType("application/json"));
    QVERIFY(!isGrpcContentType("application/grp"));
    QVERIFY(!isGrpcContentType(""));
    QVERIFY(!isGrpcContentType(std::string_view("application/\0rpc", 16)));
    QVERIFY(!isGrpcContentType(" application/grpc"));
  }

  void grpcStatusValues() {
    QCOMPARE(parseGrpcStatus("0"), std::optional<uint32_t>(0));
    QCOMPARE(parseGrpcStatus("14"), std::optional<uint32_t>(14));
    QCOMPARE(parseGrpcStatus("16"), std::optional<uint32_t>(16));
    // Codes the proxy does not know are UNKNOWN (the spec's rule).
    QCOMPARE(parseGrpcStatus("17"), std::optional<uint32_t>(common::kGrpcUnknown));
    QCOMPARE(parseGrpcStatus("999"), std::optional<uint32_t>(common::kGrpcUnknown));
    // Not numbers at all.
    QCOMPARE(parseGrpcStatus(""), std::nullopt);
    QCOMPARE(parseGrpcStatus("1000"), std::nullopt);
    QCOMPARE(parseGrpcStatus("99999999999999999999999"), std::nullopt);
    QCOMPARE(parseGrpcStatus("-1"), std::nullopt);
    QCOMPARE(parseGrpcStatus(" 0"), std::nullopt);
    QCOMPARE(parseGrpcStatus("OK"), std::nullopt);
    QCOMPARE(parseGrpcStatus(std::string_view("1\0", 2)), std::nullopt);
    QCOMPARE(parseGrpcStatus("\xff"), std::nullopt);
  }

  void headerStatusMarksTrailersOnly() {
    Fields f;
    QCOMPARE(headerGrpcStatus(f), std::nullopt);
    f.set("grpc-status", "14");
    QCOMPARE(headerGrpcStatus(f), std::optional<uint32_t>(14));
    f.set("grpc-status", "garbage");
    QCOMPARE(headerGrpcStatus(f), std::optional<uint32_t>(common::kGrpcUnknown));
  }

  void callStatusWithoutGrpcStatus() {
    QCOMPARE(grpcCallStatus(200, 0u), 0u);
    QCOMPARE(grpcCallStatus(503, 0u), 0u);  // the status field wins
    // Missing grpc-status: a failure, UNKNOWN for a 200, else the HTTP mapping.
    QCOMPARE(grpcCallStatus(200, std::nullopt), common::kGrpcUnknown);
    QCOMPARE(grpcCallStatus(400, std::nullopt), common::kGrpcInternal);
    QCOMPARE(grpcCallStatus(401, std::nullopt), 16u);
    QCOMPARE(grpcCallStatus(403, std::nullopt), 7u);
    QCOMPARE(grpcCallStatus(404, std::nullopt), 12u);
    for (unsigned s : {429u, 502u, 503u, 504u})
      QCOMPARE(grpcCallStatus(s, std::nullopt), common::kGrpcUnavailable);
    QCOMPARE(grpcCallStatus(500, std::nullopt), common::kGrpcUnknown);
    QCOMPARE(grpcStatusOfLocalReply(504), common::kGrpcDeadlineExceeded);
    QCOMPARE(grpcStatusOfLocalReply(429), common::kGrpcResourceExhausted);
    QCOMPARE(grpcStatusOfLocalReply(503), common::kGrpcUnavailable);
  }

  void serverAndClientErrors() {
    QCOMPARE(common::grpcStatusHttpEquivalent(0), 200u);
    QVERIFY(!common::grpcStatusIsServerError(0));
    for (uint32_t server : {2u, 4u, 12u, 13u, 14u, 15u}) {
      QVERIFY2(common::grpcStatusIsServerError(server), std::to_string(server).c_str());
    }
    for (uint32_t client : {1u, 3u, 5u, 6u, 7u, 8u, 9u, 10u, 11u, 16u}) {
      QVERIFY2(!common::grpcStatusIsServerError(client), std::to_string(client).c_str());
      QVERIFY(common::grpcStatusHttpEquivalent(client) >= 400);
    }
    QVERIFY(common::grpcStatusIsServerError(17));  // outside 0..16: as UNKNOWN
    QCOMPARE(common::grpcStatusFromName("UNAVAILABLE"), std::optional<uint32_t>(14));
    QCOMPARE(common::grpcStatusFromName("unavailable"), std::nullopt);
    QCOMPARE(common::grpcStatusName(4), std::string_view("DEADLINE_EXCEEDED"));
    QCOMPARE(common::grpcStatusName(17), std::string_view());
  }

  void grpcTimeoutParsesStrictly() {
    QCOMPARE(parseGrpcTimeout("1S"), std::optional<Duration>(1s));
    QCOMPARE(parseGrpcTimeout("250m"), std::optional<Duration>(250ms));
    QCOMPARE(parseGrpcTimeout("7u"), std::optional<Duration>(7us));
    QCOMPARE(parseGrpcTimeout("99999999n"), std::optional<Duration>(99999999ns));
    QCOMPARE(parseGrpcTimeout("2M"), std::optional<Duration>(2min));
    QCOMPARE(parseGrpcTimeout("3H"), std::optional<Duration>(3h));
    QCOMPARE(parseGrpcTimeout("00000001m"), std::optional<Duration>(1ms));
    QCOMPARE(parseGrpcTimeout("0m"), std::optional<Duration>(0ms));
    // The largest value of the largest unit saturates instead of overflowing.
    QCOMPARE(parseGrpcTimeout("99999999H"), std::optional<Duration>(Duration::max()));
    // Malformed: empty, no digits, no unit, unknown unit, nine digits, signs, spaces, binary.
    for (std::string_view bad :
         {std::string_view(""), std::string_view("S"), std::string_view("100"),
          std::string_view("1s"), std::string_view("1x"), std::string_view("123456789S"),
          std::string_view("99999999999999999999S"), std::string_view("-1S"),
          std::string_view("+1S"), std::string_view(" 1S"), std::string_view("1 S"),
          std::string_view("1S "), std::string_view("1.5S"), std::string_view("1SS"),
          std::string_view("\x00\x01", 2), std::string_view("1\0S", 3),
          std::string_view("\xff\xfeS")}) {
      QVERIFY2(!parseGrpcTimeout(bad), std::string(bad).c_str());
    }
  }

  void grpcTimeoutFormatsWithinEightDigits() {
    QCOMPARE(formatGrpcTimeout(1500us), std::string("1500000n"));
    QCOMPARE(formatGrpcTimeout(250ms), std::string("250000u"));
    QCOMPARE(formatGrpcTimeout(30s), std::string("30000000u"));
    QCOMPARE(formatGrpcTimeout(2h), std::string("7200000m"));
    QCOMPARE(formatGrpcTimeout(Duration{0}), std::string("1n"));   // never 0: "now"
    QCOMPARE(formatGrpcTimeout(Duration{-5}), std::string("1n"));  // already past
    QCOMPARE(formatGrpcTimeout(Duration::max()), std::string("2562048H"));
    // Rounded up, and what it says parses back to at least the time given.
    for (Duration d : {Duration{123456789}, Duration{99999999}, Duration{100000001},
                       Duration{std::chrono::hours(1000) + 1ns}}) {
      const auto text = formatGrpcTimeout(d);
      QVERIFY(text.size() <= 9);
      const auto back = parseGrpcTimeout(text);
      QVERIFY2(back && *back >= d, text.c_str());
    }
  }

  void retriesOnTrailersOnlyGrpcStatuses() {
    const uint32_t grpc = kRetryOnGrpcUnavailable | kRetryOnGrpcResourceExhausted;
    QVERIFY(isRetriable(grpc, AttemptFailure::kNone, 200, 14));
    QVERIFY(isRetriable(grpc, AttemptFailure::kNone, 200, 8));
    QVERIFY(!isRetriable(grpc, AttemptFailure::kNone, 200, 13));
    QVERIFY(!isRetriable(grpc, AttemptFailure::kNone, 200, 0));
    QVERIFY(!isRetriable(grpc, AttemptFailure::kNone, 200, -1));  // not trailers-only
    QVERIFY(isRetriable(kRetryOnGrpcCancelled, AttemptFailure::kNone, 200, 1));
    QVERIFY(isRetriable(kRetryOnGrpcDeadlineExceeded, AttemptFailure::kNone, 200, 4));
    QVERIFY(isRetriable(kRetryOnGrpcInternal, AttemptFailure::kNone, 200, 13));
    // HTTP conditions do not retry a gRPC status, and gRPC ones no HTTP status.
    QVERIFY(!isRetriable(kRetryOn5xx | kRetryOnGatewayError, AttemptFailure::kNone, 200, 14));
    QVERIFY(!isRetriable(grpc, AttemptFailure::kNone, 503, -1));

    RetryConfig p;
    p.attempts = 2;
    p.retry_on = grpc;
    const RetryState::TimePoint now{std::chrono::seconds(100)};
    RetryState r(p, true, now + 10s);
    RetryBudget budget;
    AttemptOutcome unavailable{AttemptFailure::kNone, 200, false};
    unavailable.grpc_status = 14;
    QCOMPARE(r.next(unavailable, &budget, 1, now, [] { return 0; }).action,
             RetryState::Action::kRetry);
    budget.release();
    AttemptOutcome ok{AttemptFailure::kNone, 200, false};
    ok.grpc_status = 0;
    QCOMPARE(r.next(ok, &budget, 1, now, [] { return 0; }).action, RetryState::Action::kStop);
  }
};

QTEST_GUILESS_MAIN(GrpcTest)
#include "grpc_test.moc"
