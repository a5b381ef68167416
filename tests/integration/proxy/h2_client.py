#!/usr/bin/python3
"""HTTP/2 client of proxy_http2_test (Debian's python3-h2; run with /usr/bin/python3).

Usage: h2_client.py MODE PORT [ARGS...]; prints one JSON object on stdout.

  get PORT PATH [NAME=VALUE...]      one request: status, headers, body size and sha256
  concurrent PORT N PATHS            N streams at once on one connection (PATHS: comma-separated,
                                     taken in turn): their statuses
  upload PORT BYTES                  POST /upload with BYTES of body, sent as the window allows
  slow_download PORT PATH PID SECONDS  one GET whose response is not read for SECONDS (the proxy
                                     must hold it back, not buffer it), then read to its end;
                                     with the resident memory of process PID before and after
                                     the pause
  big_headers PORT BYTES             a request whose header list is BYTES long
  rapid_reset PORT N                 N streams opened and reset at once (CVE-2023-44487)
  continuation PORT N                HEADERS without END_HEADERS, then N CONTINUATION frames
  empty_data PORT N                  N empty DATA frames on an open stream
  ping_flood PORT N                  N PINGs without reading the acks
  drain PORT PID                     one request, then SIGTERM to PID (the proxy), then how the
                                     connection ended

The attack modes write raw frames (hyperframe, hpack) and report how the connection ended:
{"goaway": <error code or null>, "closed": bool, "responses": <statuses seen>}.
"""
import hashlib
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
import hpack
from hyperframe import frame as hf

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    # As every HTTP/2 client does: without it, a DATA frame shorter than the MSS waits for the
    # ACK of the previous one, which the proxy delays (40 ms) while it has nothing to send.
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = h2.connection.H2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    s.sendall(conn.data_to_send())
    return s, conn


def base_headers(port, path, method="GET"):
    return [(":method", method), (":path", path), (":scheme", "http"),
            (":authority", "127.0.0.1:%d" % port)]


def run_until(s, conn, done, streams, deadline_s=20):
    """Reads events until done(streams) or the connection ends; fills streams[id]."""
    deadline = time.time() + deadline_s
    ended = None
    while not done(streams) and time.time() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            break
        if not data:
            ended = "closed"
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                st = streams.setdefault(ev.stream_id, {})
                st["headers"] = dict(ev.headers)
                st["status"] = int(st["headers"][":status"])
            elif isinstance(ev, h2.events.DataReceived):
                st = streams.setdefault(ev.stream_id, {})
                st.setdefault("body", hashlib.sha256())
                st["body"].update(ev.data)
                st["size"] = st.get("size", 0) + len(ev.data)
                if len(st.get("text", b"")) < 4096:
                    st["text"] = (st.get("text", b"") + ev.data)[:4096]
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                streams.setdefault(ev.stream_id, {})["trailers"] = dict(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded):
                streams.setdefault(ev.stream_id, {})["ended"] = True
            elif isinstance(ev, h2.events.StreamReset):
                streams.setdefault(ev.stream_id, {})["reset"] = int(ev.error_code)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                ended = "goaway:%d" % int(ev.error_code)
        out = conn.data_to_send()
        if out:
            s.sendall(out)
        if ended:
            break
    return ended


def summary(streams):
    out = {}
    for sid, st in streams.items():
        out[str(sid)] = {
            "status": st.get("status"),
            "headers": st.get("headers", {}),
            "size": st.get("size", 0),
            "sha256": st["body"].hexdigest() if "body" in st else hashlib.sha256().hexdigest(),
            "ended": st.get("ended", False),
            "reset": st.get("reset"),
            "trailers": st.get("trailers"),
            "text": st.get("text", b"").decode("utf-8", "replace"),
        }
    return out


def mode_get(port, path, *extra):
    s, conn = connect(port)
    headers = base_headers(port, path) + [tuple(h.split("=", 1)) for h in extra]
    conn.send_headers(1, headers, end_stream=True)
    s.sendall(conn.data_to_send())
    streams = {}
    ended = run_until(s, conn, lambda st: st.get(1, {}).get("ended") or st.get(1, {}).get(
        "reset") is not None, streams)
    return {"streams": summary(streams), "ended": ended}


def mode_concurrent(port, n, path):
    n = int(n)
    s, conn = connect(port)
    ids = []
    paths = path.split(",")
    for i in range(n):
        sid = 1 + 2 * i
        conn.send_headers(sid, base_headers(port, paths[i % len(paths)]), end_stream=True)
        ids.append(sid)
    s.sendall(conn.data_to_send())
    streams = {}
    ended = run_until(
        s, conn, lambda st: all(st.get(i, {}).get("ended") or st.get(i, {}).get("reset")
                                is not None for i in ids), streams, 60)
    return {"streams": summary(streams), "ended": ended}


def mode_upload(port, size):
    size = int(size)
    s, conn = connect(port)
    conn.send_headers(1, base_headers(port, "/upload", "POST"), end_stream=False)
    s.sendall(conn.data_to_send())
    streams = {}
    sent = 0
    chunk = b"x" * 16384
    deadline = time.time() + 60
    while sent < size and time.time() < deadline:
        window = min(conn.local_flow_control_window(1), conn.max_outbound_frame_size)
        if window > 0:
            n = min(window, size - sent, len(chunk))
            conn.send_data(1, chunk[:n], end_stream=(sent + n == size))
            sent += n
            s.sendall(conn.data_to_send())
            continue
        # Wait for WINDOW_UPDATE: the proxy opens the window as the upstream takes the body.
        data = s.recv(65536)
        if not data:
            break
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                streams.setdefault(1, {})["status"] = int(dict(ev.headers)[":status"])
        out = conn.data_to_send()
        if out:
            s.sendall(out)
    ended = run_until(s, conn, lambda st: st.get(1, {}).get("ended"), streams, 30)
    return {"sent": sent, "streams": summary(streams), "ended": ended}


def raw_connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(PREFACE + hf.SettingsFrame(0).serialize())
    return s


def read_outcome(s, seconds=10):
    """Reads frames until GOAWAY or close; returns what happened."""
    buf = b""
    result = {"goaway": None, "closed": False, "responses": 0}
    deadline = time.time() + seconds
    s.settimeout(1)
    while time.time() < deadline:
        try:
            data = s.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            result["closed"] = True
            break
        if not data:
            result["closed"] = True
            break
        buf += data
        while len(buf) >= 9:
            f, length = hf.Frame.parse_frame_header(memoryview(buf[:9]))
            if len(buf) < 9 + length:
                break
            f.parse_body(memoryview(buf[9:9 + length]))
            buf = buf[9 + length:]
            if isinstance(f, hf.GoAwayFrame):
                result["goaway"] = f.error_code
            elif isinstance(f, hf.HeadersFrame):
                result["responses"] += 1
    return result


def mode_rapid_reset(port, n):
    n = int(n)
    enc = hpack.Encoder()
    out = b""
    for i in range(n):
        sid = 1 + 2 * i
        hdr = hf.HeadersFrame(sid)
        hdr.data = enc.encode(base_headers(port, "/slow?ms=200"))
        hdr.flags.add("END_HEADERS")
        hdr.flags.add("END_STREAM")
        rst = hf.RstStreamFrame(sid)
        rst.error_code = 8  # CANCEL
        out += hdr.serialize() + rst.serialize()
    # The frames are built before connecting: on a loaded machine building them takes long
    # enough for the proxy to end a connection that sends nothing.
    s = raw_connect(port)
    try:
        s.sendall(out)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return read_outcome(s)


def mode_continuation(port, n):
    n = int(n)
    enc = hpack.Encoder()
    hdr = hf.HeadersFrame(1)
    hdr.data = enc.encode(base_headers(port, "/name"))
    out = hdr.serialize()
    for i in range(n):
        c = hf.ContinuationFrame(1)
        c.data = enc.encode([("x-flood-%d" % i, "v" * 100)])
        out += c.serialize()
    # The frames are built before connecting: on a loaded machine building them takes long
    # enough for the proxy to end a connection that sends nothing.
    s = raw_connect(port)
    try:
        s.sendall(out)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return read_outcome(s)


def mode_empty_data(port, n):
    n = int(n)
    enc = hpack.Encoder()
    hdr = hf.HeadersFrame(1)
    hdr.data = enc.encode(base_headers(port, "/upload", "POST"))
    hdr.flags.add("END_HEADERS")
    out = hdr.serialize()
    for _ in range(n):
        out += hf.DataFrame(1).serialize()
    # The frames are built before connecting: on a loaded machine building them takes long
    # enough for the proxy to end a connection that sends nothing.
    s = raw_connect(port)
    try:
        s.sendall(out)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return read_outcome(s)


def mode_ping_flood(port, n):
    n = int(n)
    # A small receive buffer and no reading: the proxy's PING acks pile up.
    frames = [PREFACE, hf.SettingsFrame(0).serialize()]
    for i in range(n):
        p = hf.PingFrame(0)
        p.opaque_data = i.to_bytes(8, "big")
        frames.append(p.serialize())
    out = b"".join(frames)
    # Connected only once the frames are built (seconds for a million on a loaded machine):
    # a connection that sends nothing for that long is ended by the proxy's first-byte timeout,
    # which is not the flood this tests.
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    try:
        s.sendall(out)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return read_outcome(s)


def rss_bytes(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def mode_slow_download(port, path, pid, seconds):
    s, conn = connect(port)
    conn.send_headers(1, base_headers(port, path), end_stream=True)
    s.sendall(conn.data_to_send())
    rss_before = rss_bytes(pid)
    time.sleep(float(seconds))  # the client reads nothing: only its windows' worth may come
    rss_paused = rss_bytes(pid)
    streams = {}
    ended = run_until(s, conn, lambda st: st.get(1, {}).get("ended") or st.get(1, {}).get(
        "reset") is not None, streams, 120)
    return {"streams": summary(streams), "ended": ended, "rss_before": rss_before,
            "rss_paused": rss_paused}


def mode_big_headers(port, size):
    size = int(size)
    s, conn = connect(port)
    headers = base_headers(port, "/name")
    i = 0
    total = 0
    while total < size:
        headers.append(("x-big-%d" % i, "a" * 4000))
        total += 4000 + 32 + len("x-big-%d" % i)
        i += 1
    conn.send_headers(1, headers, end_stream=True)
    s.sendall(conn.data_to_send())
    streams = {}
    ended = run_until(s, conn, lambda st: st.get(1, {}).get("ended") or st.get(1, {}).get(
        "reset") is not None, streams)
    return {"streams": summary(streams), "ended": ended}


def mode_drain(port, pid):
    import os
    import signal
    s, conn = connect(port)
    conn.send_headers(1, base_headers(port, "/name"), end_stream=True)
    s.sendall(conn.data_to_send())
    streams = {}
    run_until(s, conn, lambda st: st.get(1, {}).get("ended"), streams)
    os.kill(int(pid), signal.SIGTERM)
    outcome = read_outcome(s)
    outcome["first"] = streams.get(1, {}).get("status")
    return outcome


MODES = {
    "drain": mode_drain,
    "get": mode_get,
    "concurrent": mode_concurrent,
    "upload": mode_upload,
    "slow_download": mode_slow_download,
    "big_headers": mode_big_headers,
    "rapid_reset": mode_rapid_reset,
    "continuation": mode_continuation,
    "empty_data": mode_empty_data,
    "ping_flood": mode_ping_flood,
}

if __name__ == "__main__":
    mode, port, *rest = sys.argv[1:]
    print(json.dumps(MODES[mode](int(port), *rest)))
