// The Kubernetes registry (controlplane/kubernetes, docs/kubernetes-registry.md) against a fake
// API server over HTTPS (tests/support/fake_kube_api_server.h) speaking the Kubernetes wire
// format: lists in pages into services, versions and endpoints; ADDED / MODIFIED / DELETED;
// bookmarks advancing the resource version; a dropped watch resumed from the last resource
// version; 410 Gone (ERROR event and HTTP status) answered by a new list; malformed and oversized
// lines counted and skipped; the token re-read when it rotates; TokenReview answers judged.
#include "controlplane/kubernetes/kube_registry.h"

#include <QtTest>
#include <fstream>

#include "controlplane/kubernetes/kube_api_client.h"
#include "controlplane/kubernetes/token_review.h"
#include "support/fake_kube_api_server.h"

using namespace meshdeck::cp;
using namespace meshdeck::cp::kubernetes;
using meshdeck::test::FakeKubeApiServer;

namespace {

const std::string kPods = "/api/v1/pods";
const std::string kServices = "/api/v1/services";
const std::string kSlices = "/apis/discovery.k8s.io/v1/endpointslices";

std::string pod(const std::string& name, const std::string& ip, const std::string& labels,
                const std::string& rv, const std::string& annotations = "{}") {
  return R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","namespace":"shop","resourceVersion":")" + rv + R"(","labels":)" + labels +
         R"(,"annotations":)" + annotations +
         R"(},"spec":{"serviceAccountName":"reviews"},"status":{"phase":"Running","podIP":")" + ip +
         R"("}})";
}

std::string service(const std::string& name, const std::string& rv,
                    const std::string& labels = "{}") {
  return R"({"kind":"Service","apiVersion":"v1","metadata":{"name":")" + name +
         R"(","namespace":"shop","resourceVersion":")" + rv + R"(","labels":)" + labels +
         R"(},"spec":{"selector":{"app":")" + name + R"("},"ports":[{"port":9080}]}})";
}

// endpoints: (ip, pod, ready) triples as JSON array text.
std::string slice(const std::string& name, const std::string& svc, const std::string& endpoints,
                  const std::string& rv) {
  return R"({"kind":"EndpointSlice","apiVersion":"discovery.k8s.io/v1","metadata":{"name":")" +
         name + R"(","namespace":"shop","resourceVersion":")" + rv +
         R"(","labels":{"kubernetes.io/service-name":")" + svc +
         R"("}},"addressType":"IPv4","endpoints":)" + endpoints +
         R"(,"ports":[{"name":"http","port":9080,"protocol":"TCP"}]})";
}

std::string endpoint(const std::string& ip, const std::string& pod_name, bool ready) {
  return R"({"addresses":[")" + ip + R"("],"conditions":{"ready":)" + (ready ? "true" : "false") +
         R"(},"targetRef":{"kind":"Pod","namespace":"shop","name":")" + pod_name + R"("}})";
}

bool hasVersion(const KubeMeshView& view, const std::string& svc, const std::string& version) {
  for (const auto& s : view.services)
    if (s.name == svc) return s.versions.count(version) > 0;
  return false;
}

const SourceEndpoint* findEndpoint(const KubeMeshView& view, const std::string& host) {
  for (const auto& e : view.endpoints)
    if (e.host == host) return &e;
  return nullptr;
}

bool anyContains(const std::vector<std::string>& list, const std::string& part) {
  for (const auto& s : list)
    if (s.find(part) != std::string::npos) return true;
  return false;
}

}  // namespace

class KubeRegistryTest : public QObject {
  Q_OBJECT

 private:
  std::unique_ptr<FakeKubeApiServer> server_;
  std::unique_ptr<KubeApiClient> client_;
  std::unique_ptr<KubeRegistry> registry_;
  std::string token_file_;
  std::mutex sink_mu_;
  uint64_t sink_calls_ = 0;

  void writeToken(const std::string& token) {
    std::ofstream(token_file_, std::ios::trunc) << token << "\n";
  }

  // A fake with one service "reviews" (two pods, v1 and v2, one slice), lists in pages of 1.
  void startAll(KubeRegistryOptions options = {}) {
    server_ = std::make_unique<FakeKubeApiServer>(true);
    std::string error;
    QVERIFY2(server_->start(&error), error.c_str());
    token_file_ = server_->dir() + "/token";
    writeToken("token-1");
    server_->requireBearer("token-1");
    server_->setList(
        kPods,
        {pod("reviews-v1-a", "10.0.0.1",
             R"({"app":"reviews","app.kubernetes.io/version":"v1","tier":"backend"})", "90"),
         pod("reviews-v2-a", "10.0.0.2", R"({"app":"reviews","version":"v2"})", "91",
             R"({"meshdeck.io/inbound-port":"15100"})")},
        "100");
    server_->setList(kServices, {service("reviews", "80", R"({"meshdeck.io/tier":"backend"})")},
                     "100");
    server_->setList(kSlices,
                     {slice("reviews-abc", "reviews",
                            "[" + endpoint("10.0.0.1", "reviews-v1-a", true) + "," +
                                endpoint("10.0.0.2", "reviews-v2-a", false) + "]",
                            "95")},
                     "100");
    auto config = KubeApiConfig::fromUrl(server_->url(), token_file_, server_->caFile(), &error);
    QVERIFY2(config, error.c_str());
    client_ = std::make_unique<KubeApiClient>(*config);
    options.page_limit = 1;
    options.backoff_min = std::chrono::milliseconds(5);
    options.backoff_max = std::chrono::milliseconds(40);
    registry_ = std::make_unique<KubeRegistry>(*client_, options, [this](const KubeMeshView&) {
      std::lock_guard lock(sink_mu_);
      ++sink_calls_;
    });
    registry_->start();
    QTRY_VERIFY_WITH_TIMEOUT(registry_->counters().lists == 3, 10000);
  }

 private slots:
  void cleanup() {
    if (registry_) registry_->stop();
    registry_.reset();
    client_.reset();
    server_.reset();
  }

  void configFromUrl() {
    std::string error;
    auto c = KubeApiConfig::fromUrl("https://10.96.0.1", "t", "ca", &error);
    QVERIFY(c);
    QCOMPARE(c->host, std::string("10.96.0.1"));
    QCOMPARE(c->port, std::string("443"));
    QVERIFY(c->tls);
    c = KubeApiConfig::fromUrl("http://127.0.0.1:8001/", "", "", &error);
    QVERIFY(c);
    QCOMPARE(c->port, std::string("8001"));
    QVERIFY(!c->tls);
    QVERIFY(!KubeApiConfig::fromUrl("ftp://x", "", "", &error));
    QVERIFY(!KubeApiConfig::fromUrl("https://x/api", "", "", &error));
    QVERIFY(!KubeApiConfig::fromUrl("https://x:port", "", "", &error));
  }

  void listGivesServicesVersionsEndpoints() {
    startAll();
    const auto view = registry_->view();
    QCOMPARE(view.services.size(), size_t(1));
    QCOMPARE(view.services[0].name, std::string("reviews"));
    QCOMPARE(view.services[0].ns, std::string("shop"));
    QCOMPARE(view.services[0].tier, std::string("backend"));
    QVERIFY(hasVersion(view, "reviews", "v1"));  // app.kubernetes.io/version
    QVERIFY(hasVersion(view, "reviews", "v2"));  // version
    QCOMPARE(view.endpoints.size(), size_t(2));
    const auto* a = findEndpoint(view, "10.0.0.1");
    QVERIFY(a && a->ready && a->port == 15006 && a->app_port == 9080 && a->version == "v1" &&
            a->pod == "reviews-v1-a");
    const auto* b = findEndpoint(view, "10.0.0.2");
    QVERIFY(b && !b->ready && b->port == 15100 && b->version == "v2");
    // Pages of one: the second pod came with the continue token of the first page.
    QVERIFY(anyContains(server_->requests(kPods), "limit=1&continue=page-1"));
    QCOMPARE(registry_->resourceVersion(KubeKind::kPods), std::string("100"));
    // The watches start from the list's resource version, with bookmarks.
    QTRY_VERIFY(anyContains(server_->requests(kPods),
                            "watch=1&allowWatchBookmarks=true&resourceVersion=100"));

    // Into the control plane's registry.
    Registry registry;
    applyToRegistry(view, registry);
    const auto services = registry.services();
    QCOMPARE(services.size(), size_t(1));
    QCOMPARE(services[0].versions, (std::set<std::string>{"v1", "v2"}));
    QCOMPARE(services[0].tier, std::string("backend"));
    QCOMPARE(registry.sourceEndpoints().size(), size_t(2));
    const auto topology = registry.topologyVersion();
    applyToRegistry(view, registry);  // the same view changes nothing
    QCOMPARE(registry.topologyVersion(), topology);
  }

  void watchAddedModifiedDeleted() {
    startAll();
    server_->watchEvent(
        kPods, "ADDED",
        pod("reviews-v3-a", "10.0.0.3", R"({"app":"reviews","version":"v3"})", "101"));
    server_->watchEvent(kSlices, "MODIFIED",
                        slice("reviews-abc", "reviews",
                              "[" + endpoint("10.0.0.1", "reviews-v1-a", true) + "," +
                                  endpoint("10.0.0.2", "reviews-v2-a", true) + "," +
                                  endpoint("10.0.0.3", "reviews-v3-a", true) + "]",
                              "102"));
    // The pod and the slice come on two watches, in either order: the view is right once both
    // have arrived.
    QTRY_VERIFY(findEndpoint(registry_->view(), "10.0.0.3") != nullptr &&
                hasVersion(registry_->view(), "reviews", "v3"));
    auto view = registry_->view();
    QCOMPARE(findEndpoint(view, "10.0.0.3")->version, std::string("v3"));
    QVERIFY(findEndpoint(view, "10.0.0.2")->ready);
    QCOMPARE(registry_->resourceVersion(KubeKind::kEndpointSlices), std::string("102"));
    server_->watchEvent(kServices, "ADDED", service("ratings", "103"));
    server_->watchEvent(kServices, "DELETED", service("reviews", "104"));
    QTRY_VERIFY(registry_->view().services.size() == 1 &&
                registry_->view().services[0].name == "ratings");
    QVERIFY(registry_->view().endpoints.empty());  // the slice's Service is gone
    QCOMPARE(registry_->resourceVersion(KubeKind::kServices), std::string("104"));
    QVERIFY(registry_->counters().events >= 4);
    std::lock_guard lock(sink_mu_);
    QVERIFY(sink_calls_ >= 3);
  }

  void bookmarkAdvancesResourceVersion() {
    startAll();
    server_->watchBookmark(kPods, "150");
    QTRY_COMPARE(registry_->resourceVersion(KubeKind::kPods), std::string("150"));
    QCOMPARE(registry_->counters().bookmarks, uint64_t(1));
    QCOMPARE(registry_->counters().events, uint64_t(0));
    // And the next watch resumes from it.
    server_->endWatch(kPods);
    QTRY_VERIFY(anyContains(server_->requests(kPods), "resourceVersion=150"));
  }

  void droppedWatchResumesFromLastResourceVersion() {
    startAll();
    server_->watchEvent(
        kPods, "MODIFIED",
        pod("reviews-v1-a", "10.0.0.1", R"({"app":"reviews","version":"v1"})", "120"));
    server_->dropWatch(kPods);
    QTRY_VERIFY(registry_->counters().disconnects >= 1);
    QTRY_VERIFY(anyContains(server_->requests(kPods),
                            "watch=1&allowWatchBookmarks=true&"
                            "resourceVersion=120"));
    // No new list: resuming is not relisting.
    QCOMPARE(registry_->counters().lists, uint64_t(3));
    // The resumed watch still works.
    server_->watchEvent(kPods, "DELETED",
                        pod("reviews-v1-a", "10.0.0.1", R"({"app":"reviews"})", "121"));
    QTRY_COMPARE(registry_->resourceVersion(KubeKind::kPods), std::string("121"));
  }

  void goneEventRelists() {
    startAll();
    // The cluster moved on while the watch was away: a new list with another pod.
    server_->setList(
        kPods, {pod("reviews-v4-a", "10.0.0.4", R"({"app":"reviews","version":"v4"})", "290")},
        "300");
    server_->watchGone(kPods);
    QTRY_COMPARE(registry_->counters().relists_gone, uint64_t(1));
    QTRY_COMPARE(registry_->resourceVersion(KubeKind::kPods), std::string("300"));
    QCOMPARE(registry_->counters().lists, uint64_t(4));
    QTRY_VERIFY(anyContains(server_->requests(kPods), "resourceVersion=300"));
    // The pods of the old list are gone with it: endpoint 10.0.0.1 falls back to the default
    // version, since its pod is no longer known.
    QVERIFY(findEndpoint(registry_->view(), "10.0.0.1")->version == "v1");
    QVERIFY(!hasVersion(registry_->view(), "reviews", "v2"));
  }

  void goneStatusRelists() {
    startAll();
    server_->failNextWatch(kServices, 410);
    server_->dropWatch(kServices);  // the open watch breaks; the next one is answered 410
    QTRY_COMPARE(registry_->counters().relists_gone, uint64_t(1));
    QTRY_COMPARE(registry_->counters().lists, uint64_t(4));
  }

  void malformedLineCountedAndSkipped() {
    startAll();
    server_->watchRaw(kPods, "{this is not json");
    server_->watchRaw(kPods, R"({"type":"ADDED"})");  // no object
    server_->watchEvent(kPods, "ADDED",
                        pod("reviews-v5-a", "10.0.0.5", R"({"app":"reviews"})", "130"));
    QTRY_COMPARE(registry_->resourceVersion(KubeKind::kPods), std::string("130"));
    QCOMPARE(registry_->counters().bad_lines, uint64_t(2));
    QCOMPARE(registry_->counters().disconnects, uint64_t(0));
  }

  void hugeLineRefused() {
    KubeRegistryOptions options;
    options.max_line_bytes = 4096;
    startAll(options);
    // (Plain strings here: moc misreads a raw string that starts with a quote.)
    const std::string big_labels =
        "{\"app\":\"reviews\",\"filler\":\"" + std::string(20000, 'x') + "\"}";
    server_->watchEvent(kPods, "ADDED", pod("huge", "10.0.0.9", big_labels, "140"));
    server_->watchEvent(kPods, "ADDED",
                        pod("reviews-v6-a", "10.0.0.6", R"({"app":"reviews"})", "141"));
    QTRY_COMPARE(registry_->resourceVersion(KubeKind::kPods), std::string("141"));
    QCOMPARE(registry_->counters().oversize_lines, uint64_t(1));
    QCOMPARE(registry_->counters().bad_lines, uint64_t(0));
  }

  void rotatedTokenIsReRead() {
    startAll();
    QCOMPARE(client_->tokenReads(), uint64_t(1));
    // The kubelet rotates the projected token; the API server accepts only the new one.
    writeToken("token-2-longer");
    server_->requireBearer("token-2-longer");
    server_->dropWatch(kPods);
    server_->watchEvent(kPods, "ADDED",
                        pod("reviews-v7-a", "10.0.0.7", R"({"app":"reviews"})", "160"));
    QTRY_COMPARE(registry_->resourceVersion(KubeKind::kPods), std::string("160"));
    QVERIFY(client_->tokenReads() >= 2);
  }

  void apiServerUnreachableIsRetried() {
    // A fake that is not listening: lists fail and are retried with backoff, without a crash.
    FakeKubeApiServer down(false);
    std::string error;
    QVERIFY(down.start(&error));
    const auto url = down.url();
    down.stop();
    auto config = KubeApiConfig::fromUrl(url, "", "", &error);
    QVERIFY(config);
    KubeApiClient client(*config);
    KubeRegistryOptions options;
    options.backoff_min = std::chrono::milliseconds(5);
    options.backoff_max = std::chrono::milliseconds(20);
    KubeRegistry registry(client, options, nullptr);
    registry.start();
    QTRY_VERIFY(registry.counters().list_failures >= 6);
    registry.stop();
    QCOMPARE(registry.counters().lists, uint64_t(0));
  }

  void tokenReviewJudged() {
    using Outcome = TokenReviewResult::Outcome;
    auto r = judgeTokenReview(
        R"({"status":{"authenticated":true,"user":{"username":"system:serviceaccount:shop:reviews",)"
        R"("extra":{"authentication.kubernetes.io/pod-name":["reviews-v1-a"]}},"audiences":["meshdeck"]}})",
        "meshdeck");
    QCOMPARE(int(r.outcome), int(Outcome::kAuthenticated));
    QCOMPARE(r.ns, std::string("shop"));
    QCOMPARE(r.service_account, std::string("reviews"));
    QCOMPARE(r.pod_name, std::string("reviews-v1-a"));
    r = judgeTokenReview(R"({"status":{"authenticated":false,"error":"token expired"}})",
                         "meshdeck");
    QCOMPARE(int(r.outcome), int(Outcome::kUnauthenticated));
    QVERIFY(r.error.find("token expired") != std::string::npos);
    r = judgeTokenReview(
        R"({"status":{"authenticated":true,"user":{"username":"system:serviceaccount:shop:reviews"},)"
        R"("audiences":["https://kubernetes.default.svc"]}})",
        "meshdeck");
    QCOMPARE(int(r.outcome), int(Outcome::kWrongAudience));
    r = judgeTokenReview(
        R"({"status":{"authenticated":true,"user":{"username":"alice"},"audiences":["meshdeck"]}})",
        "meshdeck");
    QCOMPARE(int(r.outcome), int(Outcome::kNotServiceAccount));
    r = judgeTokenReview(
        R"({"status":{"authenticated":true,"user":{"username":"system:serviceaccount:shop:"},)"
        R"("audiences":["meshdeck"]}})",
        "meshdeck");
    QCOMPARE(int(r.outcome), int(Outcome::kNotServiceAccount));
    r = judgeTokenReview("not json", "meshdeck");
    QCOMPARE(int(r.outcome), int(Outcome::kUnavailable));
  }

  void tokenReviewThroughApiServer() {
    FakeKubeApiServer server(true);
    std::string error;
    QVERIFY2(server.start(&error), error.c_str());
    server.setTokenReview(
        "good", {true, "system:serviceaccount:shop:reviews", {"meshdeck"}, "reviews-v1-a"});
    auto config = KubeApiConfig::fromUrl(server.url(), "", server.caFile(), &error);
    QVERIFY(config);
    KubeApiClient client(*config);
    KubeTokenReviewer reviewer(client);
    auto r = reviewer.review("good");
    QCOMPARE(int(r.outcome), int(TokenReviewResult::Outcome::kAuthenticated));
    QCOMPARE(r.service_account, std::string("reviews"));
    QVERIFY(server.tokenReviewBodies().at(0).find(R"("audiences":["meshdeck"])") !=
            std::string::npos);
    r = reviewer.review("forged");
    QCOMPARE(int(r.outcome), int(TokenReviewResult::Outcome::kUnauthenticated));
    server.stop();
    r = reviewer.review("good");
    QCOMPARE(int(r.outcome), int(TokenReviewResult::Outcome::kUnavailable));
    const auto c = reviewer.counters();
    QCOMPARE(c.reviews, uint64_t(3));
    QCOMPARE(c.authenticated, uint64_t(1));
    QCOMPARE(c.unauthenticated, uint64_t(1));
    QCOMPARE(c.unavailable, uint64_t(1));
  }

  void untrustedServerRefused() {
    // The client checks the API server against the cluster CA: another CA's server is refused.
    FakeKubeApiServer server(true), other(true);
    std::string error;
    QVERIFY(server.start(&error));
    QVERIFY(other.start(&error));
    server.setList(kPods, {}, "1");
    auto config = KubeApiConfig::fromUrl(server.url(), "", other.caFile(), &error);
    QVERIFY(config);
    KubeApiClient client(*config);
    const auto r = client.get(kPods);
    QCOMPARE(r.status, 0);
    QVERIFY2(r.error.find("TLS handshake") != std::string::npos, r.error.c_str());
    config = KubeApiConfig::fromUrl(server.url(), "", server.caFile(), &error);
    KubeApiClient trusting(*config);
    QCOMPARE(trusting.get(kPods).status, 200);
  }
};

QTEST_GUILESS_MAIN(KubeRegistryTest)
#include "kube_registry_test.moc"
