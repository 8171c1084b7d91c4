#!/usr/bin/env python3
"""A Baton scheduler plugin in plain Python (standard library only).

It does what the built-in process scheduler does, over the public protocol alone: for each
desired sandbox it runs the pool spec's command ({command, args, env, cwd, graceMs}) with a
free loopback port in PORT, reports `starting`, then `ready` once the port (or health.path)
answers; on scale-down it sends SIGTERM, waits the grace, then SIGKILL, and reports `stopped`.
An unexpected exit is reported `failed` with its exit status, and the sandbox is started
again with exponential backoff (a crash loop says so). A gap in `scheduler.desired` seq means
subscribing again; a lost connection means reconnecting and `scheduler.sync`.

Environment: BATON_SOCKET (required), BATON_TOKEN, BATON_SCHEDULER_NAME (default "python"),
BATON_STATE_DIR (sandbox logs go to its python-scheduler/ directory).
"""
import http.client
import os
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from baton_rpc import Connection  # noqa: E402

NAME = os.environ.get("BATON_SCHEDULER_NAME", "python")
SOCKET = os.environ.get("BATON_SOCKET", "")
TOKEN = os.environ.get("BATON_TOKEN") or None
LOGS = os.path.join(os.environ.get("BATON_STATE_DIR", ".baton"), "python-scheduler")


def log(message):
    try:
        sys.stderr.write("python-scheduler: %s\n" % message)
        sys.stderr.flush()
    except OSError:
        pass  # the host stopped reading: keep going, the sandboxes still need stopping


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def answers(port, health):
    try:
        if health is None:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=0.5)
        connection.request("GET", health)
        status = connection.getresponse().status
        connection.close()
        return 200 <= status < 300
    except OSError:
        return False


def describe_exit(code):
    if code < 0:
        return "killed by signal %d (%s)" % (-code, signal.Signals(-code).name)
    return "exited with status %d" % code


class Scheduler:
    def __init__(self):
        self.lock = threading.RLock()
        self.pools = {}        # pool id -> desired pool
        self.sandboxes = {}    # sandbox id -> {pool, process, port, ready, stopping}
        self.failures = {}     # pool id -> failures in a row
        self.hold_until = {}   # pool id -> no start before this time
        self.latest = {}       # sandbox id -> its latest report, for sync
        self.connection = None
        self.counter = 0
        self.shutting_down = False
        os.makedirs(LOGS, exist_ok=True)

    def report(self, params):
        with self.lock:
            if params["state"] in ("stopped", "failed"):
                self.latest.pop(params["sandbox"], None)
            else:
                self.latest[params["sandbox"]] = params
            connection = self.connection
        if connection is not None:
            try:
                connection.call("scheduler.report", params)
            except (OSError, RuntimeError, ConnectionError) as error:
                log("report not delivered: %s" % error)

    def apply(self, pools, complete):
        with self.lock:
            named = {pool["pool"] for pool in pools}
            if complete:
                for pool_id in self.pools:
                    if pool_id not in named:
                        self.pools[pool_id]["desired"] = 0
            for pool in pools:
                self.pools[pool["pool"]] = pool
            for pool_id in list(self.pools):
                self.reconcile(pool_id)

    def reconcile(self, pool_id):
        with self.lock:
            if self.shutting_down:
                return
            pool = self.pools[pool_id]
            live = [s for s, v in self.sandboxes.items() if v["pool"] == pool_id and not v["stopping"]]
            if len(live) > pool["desired"]:
                extra = sorted(live, key=lambda s: (self.sandboxes[s]["ready"], s))[: len(live) - pool["desired"]]
                for sandbox in extra:
                    self.stop(sandbox)
                return
            if time.monotonic() < self.hold_until.get(pool_id, 0):
                return
            for _ in range(pool["desired"] - len(live)):
                self.launch(pool)

    def launch(self, pool):
        spec = pool.get("spec") or {}
        self.counter += 1
        sandbox = "%s-py%d-%d" % (pool["pool"], os.getpid(), self.counter)
        if not spec.get("command"):
            self.report({"sandbox": sandbox, "pool": pool["pool"], "state": "failed",
                         "reason": "the pool's spec has no \"command\" to run"})
            return
        port = free_port()
        env = dict(os.environ)
        env.update(spec.get("env") or {})
        env["PORT"] = str(port)
        logfile = open(os.path.join(LOGS, sandbox + ".log"), "ab")
        try:
            process = subprocess.Popen([spec["command"]] + list(spec.get("args") or []), env=env, cwd=spec.get("cwd"),
                                       stdout=logfile, stderr=logfile, start_new_session=True)
        except OSError as error:
            self.failed(pool["pool"], sandbox, "could not start %s: %s" % (spec["command"], error))
            return
        finally:
            logfile.close()
        self.sandboxes[sandbox] = {"pool": pool["pool"], "process": process, "port": port, "ready": False, "stopping": False,
                                   "grace": (spec.get("graceMs") or 10000) / 1000}
        log("starting sandbox %s on port %d" % (sandbox, port))
        threading.Thread(target=self.report, args=({"sandbox": sandbox, "pool": pool["pool"], "state": "starting"},),
                         daemon=True).start()
        threading.Thread(target=self.follow, args=(sandbox, (pool.get("health") or {}).get("path")), daemon=True).start()

    def follow(self, sandbox, health):
        with self.lock:
            record = self.sandboxes[sandbox]
        process, port = record["process"], record["port"]
        while process.poll() is None and not record["stopping"]:
            if answers(port, health):
                with self.lock:
                    record["ready"] = True
                    self.failures[record["pool"]] = 0
                self.report({"sandbox": sandbox, "pool": record["pool"], "state": "ready", "url": "http://127.0.0.1:%d" % port})
                break
            time.sleep(0.05)
        code = process.wait()
        with self.lock:
            self.sandboxes.pop(sandbox, None)
        if record["stopping"]:
            self.report({"sandbox": sandbox, "pool": record["pool"], "state": "stopped",
                         "reason": "stopped on request (%s)" % describe_exit(code)})
            with self.lock:
                if record["pool"] in self.pools:
                    self.reconcile(record["pool"])
        else:
            self.failed(record["pool"], sandbox, describe_exit(code))

    def failed(self, pool_id, sandbox, reason):
        with self.lock:
            failures = self.failures.get(pool_id, 0) + 1
            self.failures[pool_id] = failures
            wait = min(30.0, 0.5 * 2 ** (failures - 1))
            self.hold_until[pool_id] = time.monotonic() + wait
        if failures >= 3:
            reason += "; crash loop: %d failures in a row, next start in %.1fs" % (failures, wait)
        log("sandbox %s failed: %s" % (sandbox, reason))
        self.report({"sandbox": sandbox, "pool": pool_id, "state": "failed", "reason": reason})
        timer = threading.Timer(wait, lambda: self.reconcile(pool_id))
        timer.daemon = True
        timer.start()

    def stop(self, sandbox):
        record = self.sandboxes[sandbox]
        if record["stopping"]:
            return
        record["stopping"] = True
        process = record["process"]
        log("stopping sandbox %s" % sandbox)
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except OSError:
            return

        def kill_after_grace():
            try:
                process.wait(timeout=record["grace"])
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)

        threading.Thread(target=kill_after_grace, daemon=True).start()

    def stop_all(self):
        with self.lock:
            self.shutting_down = True
            sandboxes = list(self.sandboxes)
            processes = [self.sandboxes[s]["process"] for s in sandboxes]
            for sandbox in sandboxes:
                self.stop(sandbox)
        for process in processes:
            process.wait()

    def serve(self, connection):
        connection.hello("scheduler", NAME, TOKEN)
        subscription, seq = self.subscribe(connection)
        log("connected to the host")
        while True:
            note = connection.next_notification()
            if note is None:
                return
            params = note.get("params") or {}
            if note.get("method") != "scheduler.desired" or params.get("subscription") != subscription:
                continue
            if params.get("seq") != seq + 1:
                log("desired state has a gap (expected %d, got %s); subscribing again" % (seq + 1, params.get("seq")))
                subscription, seq = self.subscribe(connection)
                continue
            seq = params["seq"]
            self.apply(params.get("pools") or [], complete=False)

    def subscribe(self, connection):
        snapshot = connection.call("scheduler.subscribe")
        with self.lock:
            self.connection = connection
            running = list(self.latest.values())
        connection.call("scheduler.sync", {"sandboxes": running})
        self.apply(snapshot.get("pools") or [], complete=True)
        return snapshot["subscription"], snapshot["seq"]


def main():
    if not SOCKET:
        log("BATON_SOCKET is not set: it must name the host's socket")
        sys.exit(2)
    scheduler = Scheduler()
    stopping = threading.Event()

    def on_signal(*_):
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    def run():
        delay = 0.1
        while not stopping.is_set():
            try:
                connection = Connection(SOCKET)
                delay = 0.1
                scheduler.serve(connection)
                log("connection to the host closed")
            except (OSError, RuntimeError, ConnectionError) as error:
                log("host not reachable: %s" % error)
            with scheduler.lock:
                scheduler.connection = None
            stopping.wait(delay)
            delay = min(2.0, delay * 2)

    threading.Thread(target=run, daemon=True).start()
    stopping.wait()
    log("stopping every sandbox")
    scheduler.stop_all()


if __name__ == "__main__":
    main()
