#!/usr/bin/env python3
"""A small HTTP router in front of one Baton app, in plain Python (standard library only).

It shows how an outside proxy integrates with Baton over the socket, as role `router`:
  - it takes a lease on a ready sandbox (`lease.acquire`) and reuses it while it is good,
    renewing it before its ttl runs out;
  - it watches revocations (`lease.watch`): a revoked lease takes no new request and is
    released once its requests are done, so a cutover moves traffic at once;
  - a sandbox it cannot connect to is reported (`lease.invalidate`) and the request is
    retried on another one (`exclude`), which is safe because nothing reached the app; a
    request lost after it was sent is retried elsewhere only if it may run twice;
  - it releases every lease when it stops.

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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from baton_rpc import Connection  # noqa: E402

IDEMPOTENT = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}


def log(message):
    try:
        sys.stderr.write("python-router: %s\n" % message)
        sys.stderr.flush()
    except OSError:
        pass


class Leases:
    """The lease in use for the app, its requests in flight, and what revocations ended."""

    def __init__(self, connection, app):
        self.connection = connection
        self.app = app
        self.lock = threading.Lock()
        self.current = None      # the lease new requests use
        self.in_flight = {}      # lease id -> requests on it
        self.revoked = set()     # lease ids that take no new request

    def checkout(self, exclude):
        with self.lock:
            lease = self.current
            if lease is not None and lease["sandbox"] not in exclude and lease["lease"] not in self.revoked \
                    and self.in_flight.get(lease["lease"], 0) < lease["slots"]:
                self.in_flight[lease["lease"]] = self.in_flight.get(lease["lease"], 0) + 1
                return lease
        lease = self.connection.call("lease.acquire", {"app": self.app, "slots": 16, "waitMs": 5000, "exclude": sorted(exclude)})
        with self.lock:
            self.in_flight[lease["lease"]] = self.in_flight.get(lease["lease"], 0) + 1
            previous = self.current
            self.current = lease
        if previous is not None:
            self.release_if_idle(previous["lease"], force_revoke=True)
        return lease

    def checkin(self, lease):
        with self.lock:
            self.in_flight[lease["lease"]] -= 1
        self.release_if_idle(lease["lease"])

    def revoke(self, lease_ids):
        with self.lock:
            self.revoked.update(lease_ids)
            if self.current is not None and self.current["lease"] in lease_ids:
                self.current = None
        for lease_id in lease_ids:
            self.release_if_idle(lease_id)

    def release_if_idle(self, lease_id, force_revoke=False):
        with self.lock:
            if force_revoke:
                self.revoked.add(lease_id)
            if lease_id not in self.revoked or self.in_flight.get(lease_id, 0) > 0:
                return
            self.in_flight.pop(lease_id, None)
            self.revoked.discard(lease_id)
        self.connection.call("lease.release", {"lease": lease_id})

    def invalidate(self, lease, reason):
        self.connection.call("lease.invalidate", {"lease": lease["lease"], "reason": reason})
        self.revoke({lease["lease"]})

    def renew(self):
        with self.lock:
            lease = self.current
        if lease is not None:
            try:
                self.connection.call("lease.renew", {"lease": lease["lease"]})
            except RuntimeError:
                self.revoke({lease["lease"]})

    def release_all(self):
        with self.lock:
            ids = set(self.in_flight) | ({self.current["lease"]} if self.current else set())
            self.current = None
        for lease_id in ids:
            self.connection.call("lease.release", {"lease": lease_id})


def make_handler(leases):
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
                    lease = leases.checkout(tried)
                except RuntimeError as error:
                    return self.answer(503, "no sandbox of %s is ready: %s\n" % (leases.app, error))
                target = urlparse(lease["url"])
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    connection.connect()
                except OSError as error:
                    # Nothing reached the app: say the sandbox is broken and try another one.
                    leases.checkin(lease)
                    leases.invalidate(lease, "connect failed: %s" % error)
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
                    if self.command not in IDEMPOTENT and "Idempotency-Key" not in self.headers:
                        return self.answer(502, "the sandbox failed after the request was sent: %s\n" % error)
                    tried.add(lease["sandbox"])
                    continue
                finally:
                    connection.close()
                    leases.checkin(lease)
            self.answer(502, "no sandbox of %s could be reached\n" % leases.app)

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
    socket_path = os.environ.get("BATON_SOCKET", "")
    if not socket_path:
        log("BATON_SOCKET is not set: it must name the host's socket")
        sys.exit(2)
    connection = Connection(socket_path)
    connection.hello("router", "python-router", os.environ.get("BATON_TOKEN") or None)
    leases = Leases(connection, options.app)
    connection.call("lease.watch", {"apps": [options.app]})

    def follow_revocations():
        while True:
            note = connection.next_notification()
            if note is None:
                return
            if note.get("method") == "lease.revoked":
                leases.revoke(set(note["params"]["leases"]))

    threading.Thread(target=follow_revocations, daemon=True).start()
    stop = threading.Event()

    def renew():
        while not stop.wait(5):
            leases.renew()

    threading.Thread(target=renew, daemon=True).start()
    server = ThreadingHTTPServer(("127.0.0.1", options.port), make_handler(leases))
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    log("listening on 127.0.0.1:%d" % server.server_address[1])
    server.serve_forever()
    stop.set()
    leases.release_all()
    log("released every lease; bye")


if __name__ == "__main__":
    main()
