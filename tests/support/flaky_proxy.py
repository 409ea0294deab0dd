#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for the storage tests (tests/flaky_storage.rs).

It sits between parcours and the moto S3 server and forwards every request unchanged, except
that it can answer some requests itself with an error status (503 SlowDown, 500 InternalError,
...) without forwarding them, or hold them for a while before forwarding them. Which requests
is chosen by counting the requests whose "METHOD /path?query" matches --match:

  --fail-first N     the first N matching requests fail
  --fail-every K     every K-th matching request fails (the K-th, the 2K-th, ...)
  --fail-all         every matching request fails
  --status CODE      the status of an injected failure (default 503)
  --delay SECONDS    hold matching requests (see --delay-match) this long before forwarding
  --delay-first N    only the first N of them (default: all)
  --delay-match RE   which requests are held (default: the same as --match)

A failed request is never forwarded, so the server's state is exactly what a client that saw
the error may assume. A held request is forwarded after the delay even if the client gave up,
so hold only reads (GET/HEAD) unless the test wants that.

It prints "listening on PORT" once it accepts connections. GET /__flaky/stats answers the
counts so far as JSON: requests, faults, delays. Only the standard library is used.
"""

import argparse
import http.client
import json
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
}

CODES = {500: "InternalError", 503: "SlowDown", 429: "SlowDown", 408: "RequestTimeout"}


class State:
    def __init__(self, args):
        self.args = args
        self.match = re.compile(args.match)
        self.delay_match = re.compile(args.delay_match or args.match)
        self.lock = threading.Lock()
        self.requests = 0
        self.matched = 0
        self.delay_matched = 0
        self.faults = 0
        self.delays = 0

    def decide(self, line):
        """Returns (fail, delay_seconds) for one request."""
        a = self.args
        with self.lock:
            self.requests += 1
            fail = False
            if self.match.search(line):
                self.matched += 1
                n = self.matched
                fail = (
                    a.fail_all
                    or n <= a.fail_first
                    or (a.fail_every > 0 and n % a.fail_every == 0)
                )
            delay = 0.0
            if a.delay > 0 and self.delay_match.search(line):
                self.delay_matched += 1
                if a.delay_first is None or self.delay_matched <= a.delay_first:
                    delay = a.delay
            if fail:
                self.faults += 1
            elif delay:
                self.delays += 1
            return fail, delay


def make_handler(state, target):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def read_body(self):
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def reply(self, status, body, headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def handle_any(self):
            # The body is read first in every case, so the connection stays usable.
            body = self.read_body()
            if self.path.startswith("/__flaky/stats"):
                with state.lock:
                    stats = {
                        "requests": state.requests,
                        "faults": state.faults,
                        "delays": state.delays,
                    }
                self.reply(200, json.dumps(stats).encode(), [("Content-Type", "application/json")])
                return
            fail, delay = state.decide(f"{self.command} {self.path}")
            if fail:
                code = state.args.status
                xml = (
                    '<?xml version="1.0" encoding="UTF-8"?>'
                    f"<Error><Code>{CODES.get(code, 'InternalError')}</Code>"
                    f"<Message>flaky_proxy: injected {code}</Message></Error>"
                ).encode()
                self.reply(code, xml, [("Content-Type", "application/xml")])
                return
            if delay:
                time.sleep(delay)
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            try:
                conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                for k, v in self.headers.items():
                    if k.lower() in HOP_BY_HOP or k.lower() == "content-length":
                        continue
                    conn.putheader(k, v)
                if body or self.command in ("PUT", "POST"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
                headers = [
                    (k, v)
                    for k, v in resp.getheaders()
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                ]
                self.send_response(resp.status, resp.reason)
                for k, v in headers:
                    self.send_header(k, v)
                if self.command == "HEAD":
                    # A HEAD answer describes the object's length without carrying it.
                    self.send_header("Content-Length", resp.getheader("Content-Length", "0"))
                    self.end_headers()
                else:
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", required=True, help="the server to forward to, e.g. http://127.0.0.1:5000")
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: any free port)")
    p.add_argument("--match", default=".*")
    p.add_argument("--status", type=int, default=503)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--fail-every", type=int, default=0)
    p.add_argument("--fail-all", action="store_true")
    p.add_argument("--delay", type=float, default=0.0)
    p.add_argument("--delay-first", type=int, default=None)
    p.add_argument("--delay-match", default=None)
    args = p.parse_args()
    target = urllib.parse.urlparse(args.target)
    state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state, target))
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
