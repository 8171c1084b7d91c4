#!/usr/bin/env python3
"""A small HTTP router in front of one Baton app, in Python on `baton_client` (standard library only).

It shows how an outside proxy integrates with Baton over the socket, as role `router`.
`baton_client.Leases` keeps its leases as the protocol asks: shared up to their slots, renewed
before their ttl runs out, dropped at a revocation (`lease.watch`) and released once their
requests are done, so a cutover moves traffic at once. A sandbox it cannot connect to is
reported (`lease.invalidate`) and the request is retried on another one (`exclude`), which is
safe because nothing reached the app; a request lost after it was sent is retried elsewhere
only if it may run twice (`may_retry`). It releases every lease when it stops.

Usage: router.py --app APP [--port 0]    (BATON_SOCKET, BATON_TOKEN from the environment)
It prints "listening on 127.0.0.1:PORT" on stderr once it serves.
"""
import argparse
import http.client
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from baton_client import BatonError, Connection, Leases, may_retry  # noqa: E402

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


def log(message):
    try:
        sys.stderr.write("python-router: %s\n" % message)
        sys.stderr.flush()
    except OSError:
        pass


def make_handler(leases, app):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, format, *args):
            pass

        def proxy(self):
            length = int(self.headers.get("Content-Length", "0") or "0")
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            tried = set()
            for _ in range(3):
                try:
                    lease = leases.checkout(app, exclude=tried)
                except BatonError as error:
                    return self.answer(503, "no sandbox of %s is ready: %s\n" % (app, error.message))
                target = urlparse(lease["url"])
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    connection.connect()
                except OSError as error:
                    # Nothing reached the app: say the sandbox is broken and try another one.
                    leases.invalidate(lease, "connect failed: %s" % error)
                    leases.checkin(lease)
                    tried.add(lease["sandbox"])
                    continue
                try:
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    data = response.read()
                    self.send_response(response.status)
                    for name, value in response.getheaders():
                        if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("X-Baton-Sandbox", lease["sandbox"])
                    self.end_headers()
                    self.wfile.write(data)
                    return
                except (OSError, http.client.HTTPException) as error:
                    # Lost before any answer: only a request that may run twice goes elsewhere.
                    if not may_retry(self.command, self.headers):
                        return self.answer(502, "the sandbox failed after the request was sent: %s\n" % error)
                    tried.add(lease["sandbox"])
                    continue
                finally:
                    connection.close()
                    leases.checkin(lease)
            self.answer(502, "no sandbox of %s could be reached\n" % app)

        def answer(self, status, text):
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = proxy

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--app", default=os.environ.get("BATON_APP"), required="BATON_APP" not in os.environ)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "0")))
    options = parser.parse_args()
    if not os.environ.get("BATON_SOCKET"):
        log("BATON_SOCKET is not set: it must name the host's socket")
        sys.exit(2)
    connection = Connection()
    connection.hello("router", "python-router", token=os.environ.get("BATON_TOKEN") or None)
    leases = Leases(connection)
    leases.watch([options.app])
    server = ThreadingHTTPServer(("127.0.0.1", options.port), make_handler(leases, options.app))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log("listening on 127.0.0.1:%d" % server.server_address[1])
    server.serve_forever()
    leases.close()
    log("released every lease; bye")


if __name__ == "__main__":
    main()
