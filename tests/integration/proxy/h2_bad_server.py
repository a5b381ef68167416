#!/usr/bin/python3
"""A misbehaving HTTP/2 (h2c) server for proxy_grpc_e2e_test (python3-h2; run with /usr/bin/python3).

Usage: h2_bad_server.py MODE; prints "port P" once listening, then serves until killed.

  garbage       answers the connection preface with bytes that are no HTTP/2 frame, and keeps
                the connection open
  big_headers   answers every request with 80 KiB of header fields (ten of 8 KiB)
  goaway_mid    answers a request with its head and half a body, then GOAWAY and close
  refuse_first  resets the first stream of every connection with REFUSED_STREAM, answers the
                others 200 "ok"
  hang          reads requests and never answers
"""
import socket
import sys
import threading

import h2.config
import h2.connection
import h2.events
import h2.errors


def handle(sock, mode):
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
    if mode == "garbage":
        sock.recv(65536)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello" * 10)
        while sock.recv(65536):
            pass
        return
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    first = True
    while True:
        data = sock.recv(65536)
        if not data:
            return
        try:
            events = conn.receive_data(data)
        except Exception:
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                sid = ev.stream_id
                if mode == "big_headers":
                    conn.send_headers(sid, [(":status", "200")] +
                                      [("x-big-%d" % i, "b" * 8192) for i in range(10)],
                                      end_stream=True)
                elif mode == "goaway_mid":
                    conn.send_headers(sid, [(":status", "200"), ("content-length", "100000")])
                    conn.send_data(sid, b"z" * 1000)
                    sock.sendall(conn.data_to_send())
                    conn.close_connection(error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
                    sock.sendall(conn.data_to_send())
                    sock.close()
                    return
                elif mode == "refuse_first" and first:
                    first = False
                    conn.reset_stream(sid, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
                elif mode == "refuse_first":
                    conn.send_headers(sid, [(":status", "200"), ("content-length", "2")])
                    conn.send_data(sid, b"ok", end_stream=True)
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        out = conn.data_to_send()
        if out:
            sock.sendall(out)


def main():
    mode = sys.argv[1]
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    print("port %d" % server.getsockname()[1], flush=True)
    while True:
        sock, _ = server.accept()
        threading.Thread(target=handle, args=(sock, mode), daemon=True).start()


if __name__ == "__main__":
    main()
