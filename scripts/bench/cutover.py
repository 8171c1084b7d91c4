"""Measures how fast Baton cuts over once the report that completes a quorum arrives.

Plays admin, scheduler and router on the host's socket (Python standard library only),
deploys ROUNDS versions one after the other, and for each one times, from the moment the
scheduler sends the `ready` report, the `deploy.cutover` event and the first lease on the
new version. The seed system polls readiness every 2 s instead.
"""
import http.server
import json
import queue
import socket
import statistics
import sys
import threading
import time


class Session:
    """One JSON-RPC session: calls matched by id, notifications queued."""

    def __init__(self, path, role, name):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")
        self.next_id = 0
        self.pending = {}
        self.notifications = queue.Queue()
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        self.call("host.hello", {"protocol": "baton/1", "role": role, "client": {"name": name, "version": "1"}})

    def _read(self):
        for line in self.file:
            message = json.loads(line)
            if "id" in message and message["id"] in self.pending:
                self.pending.pop(message["id"]).put(message)
            elif "method" in message:
                self.notifications.put(message)

    def send(self, method, params=None):
        with self.lock:
            self.next_id += 1
            answer = queue.Queue()
            self.pending[self.next_id] = answer
            request = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
            if params is not None:
                request["params"] = params
            self.sock.sendall((json.dumps(request) + "\n").encode())
        return answer

    def call(self, method, params=None):
        message = self.send(method, params).get(timeout=30)
        if "error" in message:
            raise RuntimeError(f"{method}: {message['error']}")
        return message["result"]

    def wait_for(self, method, matches):
        while True:
            message = self.notifications.get(timeout=30)
            if message["method"] == method and matches(message["params"]):
                return message["params"]


def backend():
    class Quiet(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def main():
    path, rounds = sys.argv[1], int(sys.argv[2])
    url = backend()
    admin = Session(path, "admin", "bench-admin")
    scheduler = Session(path, "scheduler", "bench-scheduler")
    router = Session(path, "router", "bench-router")
    admin.call("events.watch", {"apps": ["bench"]})
    scheduler.call("scheduler.subscribe")
    to_cutover, to_lease = [], []
    for round_number in range(rounds + 1):
        version = f"v{round_number}"
        admin.call("app.deploy", {"app": "bench", "version": version,
                                  "services": [{"name": "web", "spec": {"round": round_number}}]})
        desired = scheduler.wait_for("scheduler.desired", lambda p: any(
            pool["version"] == version and pool["desired"] == 1 for pool in p["pools"]))
        pool = next(p["pool"] for p in desired["pools"] if p["version"] == version)
        sandbox = f"sandbox-{round_number}"
        scheduler.call("scheduler.report", {"sandbox": sandbox, "pool": pool, "state": "starting"})
        started = time.perf_counter()
        scheduler.send("scheduler.report", {"sandbox": sandbox, "pool": pool, "state": "ready", "url": url})
        admin.wait_for("event", lambda e: e["type"] == "deploy.cutover" and e["version"] == version)
        cutover = time.perf_counter()
        while True:
            lease = router.call("lease.acquire", {"app": "bench", "waitMs": 1000})
            router.call("lease.release", {"lease": lease["lease"]})
            if lease["version"] == version:
                break
        leased = time.perf_counter()
        if round_number > 0:  # the first deploy has nothing to cut over from
            to_cutover.append((cutover - started) * 1000)
            to_lease.append((leased - started) * 1000)
    for name, values in (("report -> deploy.cutover", to_cutover), ("report -> first new lease", to_lease)):
        print(f"{name:28} p50 {statistics.median(values):7.2f} ms   p99 {percentile(values, 0.99):7.2f} ms"
              f"   max {max(values):7.2f} ms   ({len(values)} rollovers)")
    print(f"{'seed system (2 s polling)':28} p50 {1000:7.2f} ms   p99 {1980:7.2f} ms   max {2000:7.2f} ms   (by its poll interval)")


if __name__ == "__main__":
    main()
