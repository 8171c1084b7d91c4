#!/usr/bin/env python3
"""A complete Baton scheduler: each sandbox is a local process run from its pool's spec."""
import os, signal, threading, time
from baton_client import Scheduler
from baton_client.process import answers, describe_exit, free_port, spawn, stop


class Processes(Scheduler):
    def __init__(self):
        super().__init__(name=os.environ.get("BATON_SCHEDULER_NAME", "tiny"))
        self.running, self.count, self.lock = {}, 0, threading.RLock()  # sandbox -> (pool id, process)

    def apply(self, pools):
        with self.lock:
            for pool in pools:
                mine = [s for s, (p, _) in self.running.items() if p == pool["pool"]]
                for sandbox in mine[pool["desired"]:]:  # the newest go first
                    stop(self.running.pop(sandbox)[1], pool["spec"].get("graceMs", 10000))
                for _ in range(pool["desired"] - len(mine)):
                    self.start(pool)

    def start(self, pool):
        self.count += 1
        sandbox, port = "%s-%d-%d" % (pool["pool"], os.getpid(), self.count), free_port()
        try:
            process = spawn(pool["spec"], port)
        except (ValueError, OSError) as error:
            return self.report(sandbox, pool["pool"], "failed", reason=str(error))
        self.running[sandbox] = (pool["pool"], process)
        self.report(sandbox, pool["pool"], "starting")
        threading.Thread(target=self.watch, args=(sandbox, pool, process, port), daemon=True).start()

    def watch(self, sandbox, pool, process, port):
        url = "http://127.0.0.1:%d" % port
        while process.poll() is None and not answers(url, (pool.get("health") or {}).get("path")):
            time.sleep(0.05)
        if process.poll() is None:
            self.report(sandbox, pool["pool"], "ready", url=url)
        reason = describe_exit(process.wait())
        with self.lock:
            failed = self.running.pop(sandbox, None) is not None  # a sandbox stopped on request is out already
        self.report(sandbox, pool["pool"], "failed" if failed else "stopped", reason=reason)
        if failed:  # another one in its place, a second later
            threading.Timer(1.0, lambda: self.apply([self.pools[pool["pool"]]])).start()


if __name__ == "__main__":
    scheduler, done = Processes(), threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    scheduler.run(done)
    with scheduler.lock:
        for _, process in scheduler.running.values():
            stop(process)
