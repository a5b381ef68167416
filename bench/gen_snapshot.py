#!/usr/bin/env python3
"""Writes a synthetic Meshdeck snapshot (docs/snapshot-format.md, version 1) for scale tests.

    bench/gen_snapshot.py --services 1000 --edges 5000 --shape random -o g1000.json
    bench/gen_snapshot.py --services 5000 --edges 25000 --shape layered -o l5000.json

Shapes (both acyclic, like most call graphs):
  random   a random DAG: services in a random order, each edge from an earlier service to a
           later one, endpoints uniform (so long edges that cross the whole graph are common);
  layered  services in tiers (edge -> frontend -> backend -> data ...); edges go from one
           layer to the next or, one time in five, skip a layer.

Every service gets a namespace (about 25 services each) and a tier, so grouping and the tier
filter have something to work with. Metrics are plausible and deterministic for a seed: rates
on a log scale, success mostly above 99 %, a few degraded and failing edges, a few idle ones,
mTLS on most, and a small latency histogram per edge and service (--no-histograms leaves
`latency` null). No proxies, no policies, no history: the file is about the graph.
"""

import argparse
import json
import math
import random
import sys

TIERS = ["edge", "frontend", "api", "backend", "domain", "data", "infra", "storage"]
WORDS = ["cart", "checkout", "catalog", "search", "pricing", "orders", "billing", "users",
         "auth", "inventory", "shipping", "reviews", "ratings", "ads", "recs", "email",
         "payments", "ledger", "media", "feed", "notify", "geo", "quotes", "audit"]

# The log-linear histogram of common/latency_histogram.h (layout 1).
LOWEST_EXP = 9
SUB = 128
OCTAVES = 28


def bucket_of(ns):
    ns = max(ns, 1 << LOWEST_EXP)
    exp = ns.bit_length() - 1
    octave = min(exp - LOWEST_EXP, OCTAVES - 1)
    base = 1 << (LOWEST_EXP + octave)
    sub = min((ns - base) * SUB // base, SUB - 1)
    return octave * SUB + sub


def bucket_lower(i):
    octave, sub = divmod(i, SUB)
    base = 1 << (LOWEST_EXP + octave)
    return base + sub * base // SUB


def metrics(rng, window, histograms, idle=False):
    if idle:
        return {"requests_per_second": 0.0, "success_rate": 1.0, "p50_ms": 0.0, "p90_ms": 0.0,
                "p99_ms": 0.0, "requests": 0, "retries": 0, "timeouts": 0,
                "circuit_breaker_rejections": 0, "rate_limited": 0, "faults_injected": 0,
                "denied": 0, "mtls_requests": 0, "plaintext_requests": 0,
                "responses_by_class": {"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0},
                "latency": None}
    rps = round(10 ** rng.uniform(-0.5, 3.0), 2)
    requests = max(1, int(rps * window))
    roll = rng.random()
    success = 1.0 if roll < 0.6 else (rng.uniform(0.99, 1.0) if roll < 0.93 else
                                      rng.uniform(0.9, 0.99))
    errors = requests - int(round(requests * success))
    p50 = rng.uniform(0.5, 40.0)
    p90 = p50 * rng.uniform(1.5, 3.0)
    p99 = p90 * rng.uniform(1.2, 4.0)
    mtls = requests if rng.random() < 0.85 else (0 if rng.random() < 0.5 else requests // 2)
    m = {"requests_per_second": rps, "success_rate": round(1.0 - errors / requests, 6),
         "p50_ms": round(p50, 3), "p90_ms": round(p90, 3), "p99_ms": round(p99, 3),
         "requests": requests, "retries": rng.randint(0, errors) if errors else 0,
         "timeouts": 0, "circuit_breaker_rejections": 0, "rate_limited": 0,
         "faults_injected": 0, "denied": 0, "mtls_requests": mtls,
         "plaintext_requests": requests - mtls,
         "responses_by_class": {"1xx": 0, "2xx": requests - errors, "3xx": 0, "4xx": 0,
                                "5xx": errors},
         "latency": None}
    if histograms:
        # Four buckets, at p50, p90, p99 and the tail, with the counts they imply.
        points = [(p50, 0.5), (p90, 0.4), (p99, 0.09), (p99 * 1.5, 0.01)]
        counts = {}
        left = requests
        for k, (ms, share) in enumerate(points):
            c = left if k == len(points) - 1 else min(left, int(requests * share))
            left -= c
            if c:
                i = bucket_of(int(ms * 1e6))
                counts[i] = counts.get(i, 0) + c
        buckets = sorted(counts.items())
        m["latency"] = {"layout": 1, "count": requests,
                        "sum_ns": sum(bucket_lower(i) * c for i, c in buckets),
                        "min_ns": bucket_lower(buckets[0][0]),
                        "max_ns": bucket_lower(buckets[-1][0]),
                        "underflow": 0, "overflow": 0,
                        "buckets": [[i, c] for i, c in buckets]}
    return m


def generate(services, edges, shape, seed, histograms, window=60):
    rng = random.Random(seed)
    layers = min(len(TIERS), max(2, round(math.log2(max(services, 2)) / 1.5)))
    names, tier_of, layer_of = [], {}, {}
    per_ns = 25
    for i in range(services):
        ns = "ns%03d" % (i // per_ns)
        name = "%s-%s-%d" % (ns, WORDS[i % len(WORDS)], i)
        layer = i * layers // services
        names.append(name)
        layer_of[name] = layer
        tier_of[name] = TIERS[layer]
    max_edges = services * (services - 1) // 2
    if edges > max_edges:
        sys.exit("at most %d edges fit in an acyclic graph of %d services" % (max_edges, services))
    pairs = set()
    if shape == "random":
        order = names[:]
        rng.shuffle(order)
        rank = {n: k for k, n in enumerate(order)}
        # Every service but the first is called by someone, so nothing floats alone.
        for k in range(1, min(services, edges + 1)):
            pairs.add((order[rng.randrange(0, k)], order[k]))
        while len(pairs) < edges:
            a, b = rng.sample(names, 2)
            if rank[a] > rank[b]:
                a, b = b, a
            pairs.add((a, b))
    else:
        by_layer = [[n for n in names if layer_of[n] == l] for l in range(layers)]
        for l in range(1, layers):
            for n in by_layer[l]:
                if len(pairs) < edges:
                    pairs.add((rng.choice(by_layer[l - 1]), n))
        attempts = 0
        while len(pairs) < edges and attempts < edges * 50:
            attempts += 1
            l = rng.randrange(0, layers - 1)
            skip = 2 if rng.random() < 0.2 and l + 2 < layers else 1
            pairs.add((rng.choice(by_layer[l]), rng.choice(by_layer[l + skip])))
        if len(pairs) < edges:
            sys.exit("the layers cannot hold %d edges" % edges)
    edge_list = []
    for a, b in sorted(pairs):
        edge_list.append({"source": a, "destination": b, "policies": [],
                          "requests_by_destination_version": {},
                          "metrics": metrics(rng, window, histograms, idle=rng.random() < 0.03)})
    service_list = []
    for n in names:
        service_list.append({"name": n, "namespace": n.split("-")[0],
                             "versions": ["v1"] if rng.random() < 0.8 else ["v1", "v2"],
                             "tier": tier_of[n], "instances": rng.randint(1, 4),
                             "inbound": metrics(rng, window, histograms)})
    return {"format": "meshdeck-snapshot", "format_version": 1,
            "generated_at": "2026-12-01T00:00:00.000Z",
            "control_plane": {"version": "synthetic", "listen": ""},
            "window_seconds": window, "topology_version": 1, "policy_revision": 0,
            "services": service_list, "edges": edge_list, "proxies": [], "policies": []}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--services", type=int, default=1000)
    p.add_argument("--edges", type=int, default=5000)
    p.add_argument("--shape", choices=["random", "layered"], default="random")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-histograms", action="store_true")
    p.add_argument("-o", "--output", required=True)
    a = p.parse_args()
    if a.services < 2 or a.edges < 1:
        sys.exit("need at least 2 services and 1 edge")
    doc = generate(a.services, a.edges, a.shape, a.seed, not a.no_histograms)
    with open(a.output, "w") as f:
        json.dump(doc, f, separators=(",", ":"))


if __name__ == "__main__":
    main()
