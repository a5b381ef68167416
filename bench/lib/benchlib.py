"""Shared by the reports of the proxy benchmarks: reading wrk's and meshdeck-load's output."""
import json
import re


def read(path, default=None):
    try:
        return open(path).read()
    except OSError:
        return default


def wrk_result(path):
    """(total requests, requests per second, errors) of one wrk run's text output."""
    text = read(path)
    total = int(re.search(r"(\d+) requests in", text).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    errors = 0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors += int(bad.group(1)) if bad else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors += sum(int(x) for x in sock.groups()) if sock else 0
    return total, rate, errors


def load_result(path):
    """meshdeck-load's --json report of one run."""
    return json.loads(read(path))
