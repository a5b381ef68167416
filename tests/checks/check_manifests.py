#!/usr/bin/python3
"""deploy_manifests_test: deploy/kubernetes renders with `kubectl kustomize`, and what it renders
passes an offline schema check (no cluster, no download).

Usage: check_manifests.py SOURCE_DIR [--kubectl PATH]

For the base and for overlays/demo, renders with kubectl kustomize, then checks:
  - every object: a known kind with its apiVersion, metadata.name, a namespace on namespaced
    kinds and none on cluster-wide ones, no two objects of one kind with one name;
  - Deployment: selector matches the template labels; every container has an image, resource
    requests (cpu, memory) and a memory limit, readiness and liveness probes whose named ports
    exist, allowPrivilegeEscalation false, a read-only root file system, capabilities drop ALL,
    runs as non-root (container or pod), and mounts only volumes the pod declares; its service
    account and persistent volume claims are rendered too; a workload in an injected namespace
    does not run as the sidecar's uid 65532 (whose connections are never captured);
  - Service: its selector matches a Deployment's pods in its namespace, every targetPort is a
    port of that pod;
  - RBAC: no '*' anywhere; the control plane's ClusterRole grants exactly what docs/kubernetes.md
    lists; a binding's role and service account exist;
  - MutatingWebhookConfiguration: admission v1, sideEffects None, a Fail or Ignore policy, POST
    /inject on a rendered Service port, namespaceSelector meshdeck.io/inject=enabled, no
    caBundle or a base64 one (docs/kubernetes.md patches it in);
  - the control plane's Deployment: one replica, Recreate, --state-dir on the claimed volume;
  - overlays/demo: namespace shop labelled for injection, and a Service plus a Deployment
    labelled app/version for every service and version of resources/demo/storefront.yaml.
The --self-test (run first by CTest) plants one fault of each kind in a copy of the rendered base
and fails unless each is reported. Exit status 0 when all hold, 1 with one line per finding.
"""
import base64
import copy
import os
import shutil
import subprocess
import sys

import yaml

API_VERSIONS = {
    "Namespace": ("v1", False),
    "ServiceAccount": ("v1", True),
    "Service": ("v1", True),
    "PersistentVolumeClaim": ("v1", True),
    "Deployment": ("apps/v1", True),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", False),
    "MutatingWebhookConfiguration": ("admissionregistration.k8s.io/v1", False),
}
CONTROL_PLANE_RULES = {
    ("", "pods"): {"get", "list", "watch"},
    ("", "services"): {"get", "list", "watch"},
    ("discovery.k8s.io", "endpointslices"): {"get", "list", "watch"},
    ("authentication.k8s.io", "tokenreviews"): {"create"},
}
SIDECAR_UID = 65532
INJECT_LABEL = "meshdeck.io/inject"


def render(kubectl, folder):
    r = subprocess.run([kubectl, "kustomize", folder], capture_output=True, text=True)
    if r.returncode != 0:
        return None, f"kubectl kustomize {folder} failed: {r.stderr.strip()}"
    return [d for d in yaml.safe_load_all(r.stdout) if d], None


def name_of(o):
    md = o.get("metadata") or {}
    return f"{o.get('kind')}/{md.get('namespace', '')}/{md.get('name')}"


def check_objects(objects):
    out = []
    seen = set()
    by_kind = {}
    for o in objects:
        kind = o.get("kind")
        md = o.get("metadata") or {}
        if kind not in API_VERSIONS:
            out.append(f"{name_of(o)}: kind {kind} is not one this check knows")
            continue
        api, namespaced = API_VERSIONS[kind]
        if o.get("apiVersion") != api:
            out.append(f"{name_of(o)}: apiVersion {o.get('apiVersion')}, expected {api}")
        if not md.get("name"):
            out.append(f"{name_of(o)}: no metadata.name")
        if namespaced and not md.get("namespace"):
            out.append(f"{name_of(o)}: namespaced kind without metadata.namespace")
        if not namespaced and "namespace" in md:
            out.append(f"{name_of(o)}: cluster-wide kind with metadata.namespace")
        key = name_of(o)
        if key in seen:
            out.append(f"{key}: rendered twice")
        seen.add(key)
        by_kind.setdefault(kind, []).append(o)
    return out, by_kind


def named(by_kind, kind, ns, name):
    return any(o["metadata"].get("name") == name and o["metadata"].get("namespace") == ns
               for o in by_kind.get(kind, []))


def injected_namespaces(by_kind):
    return {n["metadata"]["name"] for n in by_kind.get("Namespace", [])
            if (n["metadata"].get("labels") or {}).get(INJECT_LABEL) == "enabled"}


def check_deployment(d, by_kind, injected):
    out = []
    where = name_of(d)
    ns = d["metadata"].get("namespace")
    spec = d.get("spec") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if not selector or any(labels.get(k) != v for k, v in selector.items()):
        out.append(f"{where}: selector {selector} does not match the pod labels {labels}")
    pod = template.get("spec") or {}
    pod_sc = pod.get("securityContext") or {}
    annotations = (template.get("metadata") or {}).get("annotations") or {}
    meshed = ns in injected and annotations.get(INJECT_LABEL) != "false"
    sa = pod.get("serviceAccountName")
    if sa and not named(by_kind, "ServiceAccount", ns, sa):
        out.append(f"{where}: service account {sa} is not rendered")
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    for v in volumes.values():
        claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
        if claim and not named(by_kind, "PersistentVolumeClaim", ns, claim):
            out.append(f"{where}: claim {claim} is not rendered")
    containers = pod.get("containers") or []
    if not containers:
        out.append(f"{where}: no containers")
    for c in containers:
        cw = f"{where} container {c.get('name')}"
        if not c.get("image"):
            out.append(f"{cw}: no image")
        res = c.get("resources") or {}
        req = res.get("requests") or {}
        if "cpu" not in req or "memory" not in req:
            out.append(f"{cw}: resource requests need cpu and memory")
        if "memory" not in (res.get("limits") or {}):
            out.append(f"{cw}: no memory limit")
        ports = {p.get("name") for p in c.get("ports") or []} | \
            {p.get("containerPort") for p in c.get("ports") or []}
        is_server = bool(c.get("ports"))
        for probe_name in ("readinessProbe", "livenessProbe"):
            probe = c.get(probe_name)
            if probe is None:
                if is_server:
                    out.append(f"{cw}: no {probe_name}")
                continue
            action = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc")
            if action is None:
                out.append(f"{cw}: {probe_name} has no httpGet, tcpSocket or grpc action")
            elif action.get("port") not in ports:
                out.append(f"{cw}: {probe_name} port {action.get('port')} is not a container port")
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{cw}: allowPrivilegeEscalation must be false")
        if sc.get("readOnlyRootFilesystem") is not True:
            out.append(f"{cw}: readOnlyRootFilesystem must be true")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            out.append(f"{cw}: capabilities must drop ALL")
        if sc.get("privileged"):
            out.append(f"{cw}: privileged")
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
            out.append(f"{cw}: must run as non-root (runAsNonRoot)")
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        if uid == 0:
            out.append(f"{cw}: runAsUser 0")
        if meshed and uid == SIDECAR_UID:
            out.append(f"{cw}: runs as the sidecar's uid {SIDECAR_UID}; its calls would not "
                       "be captured")
        for m in c.get("volumeMounts") or []:
            if m.get("name") not in volumes:
                out.append(f"{cw}: mounts undeclared volume {m.get('name')}")
    return out


def pods_of(by_kind, ns, selector):
    return [d for d in by_kind.get("Deployment", [])
            if d["metadata"].get("namespace") == ns and selector and all(
                ((d["spec"]["template"].get("metadata") or {}).get("labels") or {}).get(k) == v
                for k, v in selector.items())]


def check_service(s, by_kind):
    out = []
    where = name_of(s)
    spec = s.get("spec") or {}
    selector = spec.get("selector") or {}
    deployments = pods_of(by_kind, s["metadata"].get("namespace"), selector)
    if not deployments:
        return [f"{where}: selector {selector} matches no rendered Deployment"]
    for p in spec.get("ports") or []:
        if not isinstance(p.get("port"), int):
            out.append(f"{where}: port {p.get('name')} has no numeric port")
        target = p.get("targetPort", p.get("port"))
        for d in deployments:
            ports = set()
            for c in d["spec"]["template"]["spec"].get("containers") or []:
                for cp in c.get("ports") or []:
                    ports |= {cp.get("name"), cp.get("containerPort")}
            if target not in ports:
                out.append(f"{where}: targetPort {target} is not a port of {name_of(d)}")
    return out


def check_rbac(by_kind):
    out = []
    for role in by_kind.get("ClusterRole", []):
        granted = {}
        for rule in role.get("rules") or []:
            for field in ("apiGroups", "resources", "verbs"):
                if "*" in (rule.get(field) or []):
                    out.append(f"{name_of(role)}: '*' in {field}")
            for group in rule.get("apiGroups") or []:
                for resource in rule.get("resources") or []:
                    granted.setdefault((group, resource), set()).update(rule.get("verbs") or [])
        if role["metadata"]["name"] == "meshdeck-controlplane" and granted != CONTROL_PLANE_RULES:
            out.append(f"{name_of(role)}: grants {sorted((k, sorted(v)) for k, v in granted.items())}"
                       f", expected exactly {sorted((k, sorted(v)) for k, v in CONTROL_PLANE_RULES.items())}")
    for b in by_kind.get("ClusterRoleBinding", []):
        ref = b.get("roleRef") or {}
        if not any(r["metadata"]["name"] == ref.get("name") for r in by_kind.get("ClusterRole", [])):
            out.append(f"{name_of(b)}: role {ref.get('name')} is not rendered")
        for s in b.get("subjects") or []:
            if s.get("kind") == "ServiceAccount" and \
                    not named(by_kind, "ServiceAccount", s.get("namespace"), s.get("name")):
                out.append(f"{name_of(b)}: service account {s.get('namespace')}/{s.get('name')} "
                           "is not rendered")
    return out


def check_webhooks(by_kind):
    out = []
    for cfg in by_kind.get("MutatingWebhookConfiguration", []):
        for w in cfg.get("webhooks") or []:
            where = f"{name_of(cfg)} webhook {w.get('name')}"
            if "v1" not in (w.get("admissionReviewVersions") or []):
                out.append(f"{where}: admissionReviewVersions lacks v1")
            if w.get("sideEffects") not in ("None", "NoneOnDryRun"):
                out.append(f"{where}: sideEffects must be None or NoneOnDryRun")
            if w.get("failurePolicy") not in ("Fail", "Ignore"):
                out.append(f"{where}: failurePolicy must be Fail or Ignore")
            cc = w.get("clientConfig") or {}
            svc = cc.get("service") or {}
            if svc.get("path") != "/inject":
                out.append(f"{where}: path {svc.get('path')}, expected /inject")
            services = [s for s in by_kind.get("Service", [])
                        if s["metadata"]["name"] == svc.get("name")
                        and s["metadata"].get("namespace") == svc.get("namespace")]
            if not services:
                out.append(f"{where}: service {svc.get('namespace')}/{svc.get('name')} is not "
                           "rendered")
            elif svc.get("port", 443) not in [p.get("port") for p in services[0]["spec"]["ports"]]:
                out.append(f"{where}: the service has no port {svc.get('port', 443)}")
            if "caBundle" in cc:
                try:
                    if not base64.b64decode(cc["caBundle"], validate=True):
                        raise ValueError
                except Exception:
                    out.append(f"{where}: caBundle is not base64")
            sel = (w.get("namespaceSelector") or {}).get("matchLabels") or {}
            if sel.get(INJECT_LABEL) != "enabled":
                out.append(f"{where}: namespaceSelector must match {INJECT_LABEL}=enabled")
            if not any("pods" in (r.get("resources") or []) and
                       "CREATE" in (r.get("operations") or []) for r in w.get("rules") or []):
                out.append(f"{where}: no rule for CREATE pods")
    return out


def check_control_plane(by_kind):
    cps = [d for d in by_kind.get("Deployment", []) if d["metadata"]["name"] == "meshdeck-controlplane"]
    if len(cps) != 1:
        return ["the control plane's Deployment meshdeck-controlplane is not rendered once"]
    d = cps[0]
    out = []
    if d["spec"].get("replicas") != 1 or (d["spec"].get("strategy") or {}).get("type") != "Recreate":
        out.append(f"{name_of(d)}: one replica with the Recreate strategy (one state directory)")
    c = d["spec"]["template"]["spec"]["containers"][0]
    state = [a.split("=", 1)[1] for a in c.get("args") or [] if a.startswith("--state-dir=")]
    volumes = {v["name"]: v for v in d["spec"]["template"]["spec"].get("volumes") or []}
    mounted = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
    if not state or state[0] not in mounted or \
            "persistentVolumeClaim" not in volumes.get(mounted[state[0]], {}):
        out.append(f"{name_of(d)}: --state-dir is not on a persistent volume claim")
    return out


def check_demo(by_kind, storefront):
    out = []
    mesh = yaml.safe_load(open(storefront, encoding="utf-8"))
    ns = mesh["spec"]["namespace"]
    if ns not in injected_namespaces(by_kind):
        out.append(f"namespace {ns} is not rendered with {INJECT_LABEL}=enabled")
    for svc in mesh["spec"]["services"]:
        if not named(by_kind, "Service", ns, svc["name"]):
            out.append(f"storefront service {svc['name']} has no Service")
        for v in svc["versions"]:
            if not pods_of(by_kind, ns, {"app": svc["name"], "version": v["name"]}):
                out.append(f"storefront {svc['name']} {v['name']} has no Deployment labelled "
                           "app/version")
    return out


def findings(objects, storefront=None):
    out, by_kind = check_objects(objects)
    injected = injected_namespaces(by_kind)
    for d in by_kind.get("Deployment", []):
        out += check_deployment(d, by_kind, injected)
    for s in by_kind.get("Service", []):
        out += check_service(s, by_kind)
    out += check_rbac(by_kind)
    out += check_webhooks(by_kind)
    out += check_control_plane(by_kind)
    if storefront:
        out += check_demo(by_kind, storefront)
    return out


def find(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def plant_meshed_app(objects):
    """A copy of the control plane's Deployment, meshed, in an injected namespace (its pods
    run as 65532)."""
    objects.append({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "meshed", "labels": {INJECT_LABEL: "enabled"}}})
    app = copy.deepcopy(find(objects, "Deployment", "meshdeck-controlplane"))
    app["metadata"] = {"name": "app", "namespace": "meshed"}
    app["spec"]["template"]["metadata"]["annotations"] = {}
    objects.append(app)


PLANTS = {
    "apiVersion": lambda o: find(o, "Deployment", "meshdeck-controlplane").update(
        apiVersion="extensions/v1beta1"),
    "cluster-wide kind with metadata.namespace": lambda o: find(
        o, "MutatingWebhookConfiguration", "meshdeck-sidecar-injector")["metadata"].update(
        namespace="x"),
    "no readinessProbe": lambda o: find(o, "Deployment", "meshdeck-controlplane")["spec"][
        "template"]["spec"]["containers"][0].pop("readinessProbe"),
    "readOnlyRootFilesystem must be true": lambda o: find(o, "Deployment", "meshdeck-controlplane")[
        "spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
        readOnlyRootFilesystem=False),
    "resource requests need cpu and memory": lambda o: find(
        o, "Deployment", "meshdeck-controlplane")["spec"]["template"]["spec"]["containers"][0][
        "resources"].pop("requests"),
    "'*' in verbs": lambda o: find(o, "ClusterRole", "meshdeck-controlplane")["rules"][0].update(
        verbs=["*"]),
    "expected exactly": lambda o: find(o, "ClusterRole", "meshdeck-controlplane")["rules"].append(
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}),
    "targetPort": lambda o: find(o, "Service", "meshdeck-controlplane")["spec"]["ports"][0].update(
        targetPort="nope"),
    "caBundle is not base64": lambda o: find(o, "MutatingWebhookConfiguration",
                                             "meshdeck-sidecar-injector")["webhooks"][0][
        "clientConfig"].update(caBundle="not base64!"),
    "runs as the sidecar's uid": lambda o: plant_meshed_app(o),
    "namespaceSelector": lambda o: find(o, "MutatingWebhookConfiguration",
                                        "meshdeck-sidecar-injector")["webhooks"][0].pop(
        "namespaceSelector"),
    "--state-dir is not on a persistent volume claim": lambda o: find(
        o, "Deployment", "meshdeck-controlplane")["spec"]["template"]["spec"]["containers"][0][
        "args"].append("--state-dir=/elsewhere") or find(
        o, "Deployment", "meshdeck-controlplane")["spec"]["template"]["spec"]["containers"][0][
        "args"].remove("--state-dir=/var/lib/meshdeck"),
}


def self_test(objects):
    if findings(objects):
        print("self-test: the rendered base is expected to be clean:", findings(objects))
        return False
    ok = True
    for want, plant in PLANTS.items():
        planted = copy.deepcopy(objects)
        plant(planted)
        got = findings(planted)
        if not any(want in line for line in got):
            print(f"self-test: a planted '{want}' was not reported (got: {got})")
            ok = False
    return ok


def main():
    args = sys.argv[1:]
    kubectl = "kubectl"
    if "--kubectl" in args:
        i = args.index("--kubectl")
        kubectl = args[i + 1]
        del args[i:i + 2]
    root = os.path.abspath(args[0] if args else os.path.join(os.path.dirname(__file__), "../.."))
    if shutil.which(kubectl) is None:
        print(f"check_manifests: FAIL: {kubectl} is not installed (scripts/setup.sh installs "
              "Debian's kubernetes-client)")
        return 1
    deploy = os.path.join(root, "deploy", "kubernetes")
    base, error = render(kubectl, os.path.join(deploy, "base"))
    if error:
        print(error)
        return 1
    if not self_test(base):
        return 1
    out = [f"base: {line}" for line in findings(base)]
    demo, error = render(kubectl, os.path.join(deploy, "overlays", "demo"))
    if error:
        out.append(error)
    else:
        out += [f"overlays/demo: {line}" for line in
                findings(demo, os.path.join(root, "resources", "demo", "storefront.yaml"))]
    for line in out:
        print(line)
    if not out:
        print(f"check_manifests: base ({len(base)} objects) and overlays/demo ({len(demo)} "
              f"objects) render with {kubectl} kustomize and pass the schema check")
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
