#!/usr/bin/python3
"""gRPC server and client of proxy_grpc_e2e_test (Debian's python3-grpcio; run with /usr/bin/python3).

Generic handlers on raw bytes, so no generated code is needed. Service meshdeck.test.Echo:

  Unary          returns b"<server name>:" + request
  ServerStream   request b"N": N responses b"0", b"1", ...
  ClientStream   the requests joined with b","
  Bidi           each request echoed as it comes (ping-pong works only if the proxy relays both
                 directions at once)
  Big            request b"N": one response of N bytes
  Fail           aborts with UNAVAILABLE "backend down"
  Slow           waits up to 20 s for the call to be cancelled; counts the cancellation
  Stats          JSON: {"cancelled": n, "served": {name: calls}}; request b"N": first waits (at
                 most 10 s) until N cancellations were seen

Usage (each prints one JSON object on stdout, or one line "ports P1 P2..." for serve):

  serve NAME...           one server per NAME on its own loopback port; runs until killed
  calls PORT              every call shape through PORT: the results
  spread PORT N           N unary calls on one channel: how many each server answered
  cancel PORT             a Slow call without deadline, cancelled by the client after 0.3 s
  stats PORT [N]          Stats of the server behind PORT (waiting for N cancellations)
  http1 PORT [TE]         a unary gRPC call as an HTTP/1.1 request with te: TE (default
                          trailers; "none": no te field), the raw response
  demo-stream PORT N [B]  meshdeck.demo.v1.Demo/Stream of meshdeck-demo-service (protobuf coded
                          by hand: no generated code): N messages of B payload bytes; their
                          indexes, service, version, payload bytes and the call's status
"""
import json
import socket
import sys
import threading
import time
from concurrent import futures

import grpc

SERVICE = "meshdeck.test.Echo"
ident = None  # raw bytes in and out


def serve(names):
    lock = threading.Condition()
    state = {"cancelled": 0, "served": {}}

    def make_handlers(name):
        def count():
            with lock:
                state["served"][name] = state["served"].get(name, 0) + 1

        def unary(req, ctx):
            count()
            return name.encode() + b":" + req

        def server_stream(req, ctx):
            count()
            for i in range(int(req.decode())):
                yield str(i).encode()

        def client_stream(it, ctx):
            count()
            return b",".join(it)

        def bidi(it, ctx):
            count()
            for m in it:
                yield m

        def big(req, ctx):
            count()
            return b"x" * int(req.decode())

        def fail(req, ctx):
            count()
            ctx.abort(grpc.StatusCode.UNAVAILABLE, "backend down")

        def slow(req, ctx):
            count()
            deadline = time.time() + 20
            while time.time() < deadline:
                if not ctx.is_active():
                    with lock:
                        state["cancelled"] += 1
                        lock.notify_all()
                    return b"cancelled"
                time.sleep(0.02)
            return b"slow done"

        def stats(req, ctx):
            # b"N": first wait (at most 10 s) until N calls were seen cancelled.
            want = int(req.decode() or "0")
            with lock:
                lock.wait_for(lambda: state["cancelled"] >= want, timeout=10)
                return json.dumps(state).encode()

        rpc = grpc.unary_unary_rpc_method_handler
        return grpc.method_handlers_generic_handler(SERVICE, {
            "Unary": rpc(unary),
            "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
            "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
            "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
            "Big": rpc(big),
            "Fail": rpc(fail),
            "Slow": rpc(slow),
            "Stats": rpc(stats),
        })

    servers, ports = [], []
    for name in names:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        server.add_generic_rpc_handlers((make_handlers(name),))
        ports.append(server.add_insecure_port("127.0.0.1:0"))
        server.start()
        servers.append(server)
    print("ports " + " ".join(str(p) for p in ports), flush=True)
    servers[0].wait_for_termination()


def method(channel, kind, name):
    return getattr(channel, kind)("/%s/%s" % (SERVICE, name))


def error(e):
    return {"code": e.code().name, "details": e.details()}


def calls(port):
    out = {}
    with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
        out["unary"] = method(ch, "unary_unary", "Unary")(b"hello", timeout=10).decode()
        out["server_stream"] = [
            m.decode() for m in method(ch, "unary_stream", "ServerStream")(b"5", timeout=10)]
        out["client_stream"] = method(ch, "stream_unary", "ClientStream")(
            iter([b"a", b"b", b"c"]), timeout=10).decode()
        # Ping-pong: each request is sent only after the previous response came back.
        responses = []
        ready = threading.Event()
        ready.set()

        def requests():
            for m in [b"one", b"two", b"three"]:
                if not ready.wait(5):
                    return
                ready.clear()
                yield m

        for m in method(ch, "stream_stream", "Bidi")(requests(), timeout=10):
            responses.append(m.decode())
            ready.set()
        out["bidi"] = responses
        out["big"] = len(method(ch, "unary_unary", "Big")(b"3000000", timeout=20))
        out["upload"] = len(method(ch, "stream_unary", "ClientStream")(
            iter([b"y" * 1000000] * 3), timeout=20))
        try:
            method(ch, "unary_unary", "Fail")(b"", timeout=10)
            out["fail"] = {"code": "OK"}
        except grpc.RpcError as e:
            out["fail"] = error(e)
        started = time.time()
        try:
            method(ch, "unary_unary", "Slow")(b"", timeout=0.5)
            out["deadline"] = {"code": "OK"}
        except grpc.RpcError as e:
            out["deadline"] = error(e)
        out["deadline"]["seconds"] = time.time() - started
    print(json.dumps(out))


def spread(port, n):
    with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
        unary = method(ch, "unary_unary", "Unary")
        seen = {}
        for _ in range(n):
            name = unary(b"x", timeout=10).decode().split(":")[0]
            seen[name] = seen.get(name, 0) + 1
    print(json.dumps(seen))


def stats(port, want):
    with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
        print(method(ch, "unary_unary", "Stats")(str(want).encode(), timeout=20).decode())


def cancel(port):
    with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
        future = method(ch, "unary_unary", "Slow").future(b"")
        try:
            future.result(timeout=0.3)
        except grpc.FutureTimeoutError:
            pass
        print(json.dumps({"cancelled": future.cancel()}))


def http1(port, te):
    message = b"\x00" + len(b"hi").to_bytes(4, "big") + b"hi"
    te_field = b"" if te == "none" else b"te: %s\r\n" % te.encode()
    request = (b"POST /%s/Unary HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/grpc\r\n"
               b"%scontent-length: %d\r\nconnection: close\r\n\r\n" %
               (SERVICE.encode(), te_field, len(message))) + message
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(request)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    print(json.dumps({"raw": data.decode("latin-1")}))


def varint(n):
    out = b""
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def read_varint(data, at):
    n, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, at


def fields(data):
    """The fields of a protobuf message: {number: value} (varints and length-delimited only)."""
    out, at = {}, 0
    while at < len(data):
        key, at = read_varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            out[number], at = read_varint(data, at)
        elif wire == 2:
            size, at = read_varint(data, at)
            out[number], at = data[at:at + size], at + size
        else:
            raise ValueError("wire type %d" % wire)
    return out


def demo_stream(port, count, message_bytes):
    # StreamRequest {count = 1; message_bytes = 2}
    request = b"\x08" + varint(count) + b"\x10" + varint(message_bytes)
    out = {"indexes": [], "payload_bytes": 0, "code": "OK"}
    with grpc.insecure_channel("127.0.0.1:%d" % port) as ch:
        call = ch.unary_stream("/meshdeck.demo.v1.Demo/Stream")(request, timeout=30)
        try:
            for m in call:
                f = fields(m)  # StreamMessage {service = 1; version = 2; index = 3; payload = 4}
                out["service"] = f.get(1, b"").decode()
                out["version"] = f.get(2, b"").decode()
                out["indexes"].append(f.get(3, 0))
                out["payload_bytes"] += len(f.get(4, b""))
        except grpc.RpcError as e:
            out.update(error(e))
    print(json.dumps(out))


def main():
    mode = sys.argv[1]
    if mode == "serve":
        serve(sys.argv[2:])
    elif mode == "calls":
        calls(int(sys.argv[2]))
    elif mode == "spread":
        spread(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "stats":
        stats(int(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    elif mode == "cancel":
        cancel(int(sys.argv[2]))
    elif mode == "http1":
        http1(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else "trailers")
    elif mode == "demo-stream":
        demo_stream(int(sys.argv[2]), int(sys.argv[3]),
                    int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
