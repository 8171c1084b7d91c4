#!/usr/bin/env python3
"""The built-in process scheduler again, in Python on `baton_client` (standard library only).

For each desired sandbox it runs the pool spec's command ({command, args, env, cwd, graceMs})
with a free loopback port in PORT, logging to BATON_STATE_DIR/python-scheduler/SANDBOX.log;
`baton_client.Scheduler` speaks the protocol (hello, subscribe and sync, ordered reports, a new
subscription on a seq gap, reconnects). Scale-down stops the sandboxes not ready yet first,
then the newest. An unexpected exit is reported `failed` and a new sandbox starts after a
backoff of 0.5 s doubling to 30 s; from the third failure in a row the reason says crash loop.
On SIGTERM it exits and leaves its sandboxes running, recorded in sandboxes.json; started
again, it takes back each one whose pid, start time and answer prove it is still the same.

Environment: BATON_SOCKET (required), BATON_TOKEN, BATON_SCHEDULER_NAME (default "python"),
BATON_STATE_DIR.
"""
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "clients", "python"))
from baton_client import BatonError, Scheduler  # noqa: E402
from baton_client.scheduler import stderr_log  # noqa: E402
from baton_client.process import answers, describe_exit, free_port, spawn, start_time, stop  # noqa: E402

LOGS = os.path.join(os.environ.get("BATON_STATE_DIR", ".baton"), "python-scheduler")
RECORDS = os.path.join(LOGS, "sandboxes.json")


class Processes(Scheduler):
    def __init__(self):
        super().__init__(log=lambda message: stderr_log("python-scheduler: " + message))
        self.lock = threading.RLock()
        self.sandboxes = {}   # sandbox id -> {pool, process (None once adopted), pid, start, url, ready, number}
        self.failures = {}    # pool id -> failures in a row
        self.hold_until = {}  # pool id -> no new sandbox before this time
        self.count = 0
        self.stopping = False

    def apply(self, pools):
        with self.lock:
            for pool in pools:
                self.reconcile(pool["pool"])

    def reconcile(self, pool_id):
        with self.lock:
            pool = self.pools[pool_id]
            live = [s for s, v in self.sandboxes.items() if v["pool"] == pool_id]
            # Not ready yet first, then the newest: the longest-proven keep serving.
            for sandbox in sorted(live, key=lambda s: (self.sandboxes[s]["ready"], -self.sandboxes[s]["number"])):
                if len(live) <= pool["desired"]:
                    break
                live.remove(sandbox)
                record = self.sandboxes.pop(sandbox)
                stop(record["process"] or record["pid"], pool["spec"].get("graceMs", 10000))
            if self.stopping or time.monotonic() < self.hold_until.get(pool_id, 0):
                return
            for _ in range(pool["desired"] - len(live)):
                self.start(pool)

    def start(self, pool):
        self.count += 1
        sandbox, port = "%s-py%d-%d" % (pool["pool"], os.getpid(), self.count), free_port()
        try:
            with open(os.path.join(LOGS, sandbox + ".log"), "ab") as output:
                process = spawn(pool["spec"], port, output)
        except (ValueError, OSError) as error:
            return self.failed(pool["pool"], sandbox, str(error))
        self.log("starting sandbox %s on port %d" % (sandbox, port))
        url = "http://127.0.0.1:%d" % port
        self.sandboxes[sandbox] = {"pool": pool["pool"], "process": process, "pid": process.pid,
                                   "start": start_time(process.pid), "url": url, "ready": False, "number": self.count}
        self.save()
        self.report(sandbox, pool["pool"], "starting")
        threading.Thread(target=self.follow, args=(sandbox, pool, process, url), daemon=True).start()

    def follow(self, sandbox, pool, process, url):
        while process.poll() is None and not answers(url, (pool.get("health") or {}).get("path")):
            time.sleep(0.05)
        with self.lock:
            if process.poll() is None and sandbox in self.sandboxes:
                self.sandboxes[sandbox]["ready"] = True
                self.failures[pool["pool"]] = 0
                self.report(sandbox, pool["pool"], "ready", url=url)
        self.ended(sandbox, pool["pool"], describe_exit(process.wait()))

    def ended(self, sandbox, pool_id, reason):
        with self.lock:
            unexpected = self.sandboxes.pop(sandbox, None) is not None
            self.save()
        if unexpected:
            self.failed(pool_id, sandbox, reason)
        else:
            self.report(sandbox, pool_id, "stopped", reason="stopped on request (%s)" % reason)

    def save(self):
        """Records what runs, for the next run to adopt."""
        with self.lock:
            records = [{"sandbox": s, "pool": v["pool"], "pid": v["pid"], "start": v["start"], "url": v["url"]}
                       for s, v in sorted(self.sandboxes.items()) if v["start"] is not None]
            with open(RECORDS + ".new", "w") as out:
                json.dump(records, out)
            os.replace(RECORDS + ".new", RECORDS)

    def adopt(self):
        """Takes back the sandboxes an earlier run left: reported ready before the first sync."""
        try:
            with open(RECORDS) as records:
                recorded = json.load(records)
        except (OSError, ValueError):
            recorded = []
        for record in recorded:
            if start_time(record["pid"]) != record["start"]:
                continue  # gone, or its pid now names another process
            if not answers(record["url"]):
                stop(record["pid"], 0)
                continue
            self.log("adopted sandbox %s (pid %d)" % (record["sandbox"], record["pid"]))
            self.sandboxes[record["sandbox"]] = dict(record, process=None, ready=True, number=0)
            self.report(record["sandbox"], record["pool"], "ready", url=record["url"])
            threading.Thread(target=self.follow_adopted, args=(record,), daemon=True).start()
        self.save()

    def follow_adopted(self, record):
        while start_time(record["pid"]) == record["start"]:
            time.sleep(0.2)  # not a child of this run: no exit status to wait for
        self.ended(record["sandbox"], record["pool"], "exited (adopted, so its status is unknown)")

    def snapshot_named(self, pools):
        with self.lock:
            for sandbox, record in list(self.sandboxes.items()):
                if record["pool"] not in pools and record["pool"] not in self.pools:
                    stop(self.sandboxes.pop(sandbox)["pid"])

    def failed(self, pool_id, sandbox, reason):
        with self.lock:
            failures = self.failures[pool_id] = self.failures.get(pool_id, 0) + 1
            wait = min(30.0, 0.5 * 2 ** (failures - 1))
            self.hold_until[pool_id] = time.monotonic() + wait
        if failures >= 3:
            reason += "; crash loop: %d failures in a row, next start in %.1fs" % (failures, wait)
        self.log("sandbox %s failed: %s" % (sandbox, reason))
        self.report(sandbox, pool_id, "failed", reason=reason)
        timer = threading.Timer(wait, self.reconcile, args=(pool_id,))
        timer.daemon = True
        timer.start()

def main():
    os.makedirs(LOGS, exist_ok=True)
    scheduler, done = Processes(), threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: done.set())
    scheduler.adopt()
    try:
        scheduler.run(done)
    except BatonError as error:
        scheduler.log("the host refused this scheduler: %s" % error)
        sys.exit(1)
    with scheduler.lock:
        scheduler.stopping = True
        scheduler.save()
        scheduler.log("exiting; %d sandboxes keep running for the next run to adopt" % len(scheduler.sandboxes))


if __name__ == "__main__":
    main()
