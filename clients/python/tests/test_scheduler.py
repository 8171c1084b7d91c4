import queue
import threading
import unittest

from baton_client import BatonError, Scheduler

from fake_host import FakeHost


def pool(pool_id, desired):
    return {"pool": pool_id, "app": "shop", "version": "v1", "service": "web", "desired": desired, "spec": {}}


class Recording(Scheduler):
    """A scheduler that runs nothing and records what it is asked."""

    def __init__(self, path):
        super().__init__(name="recording", socket=path, log=lambda message: None)
        self.applied = queue.Queue()

    def apply(self, pools):
        self.applied.put([(p["pool"], p["desired"]) for p in pools])


class SchedulerTests(unittest.TestCase):
    def setUp(self):
        self.host = FakeHost()
        self.addCleanup(self.host.close)
        self.subscriptions = 0
        self.snapshot = [pool("p-1", 2)]

        def subscribe(params):
            self.subscriptions += 1
            return {"subscription": "sub-%d" % self.subscriptions, "seq": 0, "pools": self.snapshot}

        self.host.answers["scheduler.subscribe"] = subscribe
        self.scheduler = Recording(self.host.path)
        self.stop = threading.Event()
        self.addCleanup(self.stop.set)

    def run_scheduler(self):
        thread = threading.Thread(target=self.scheduler.run, args=(self.stop,), daemon=True)
        thread.start()
        return thread

    def test_hello_then_subscribe_then_sync_of_what_runs_then_reports_in_order(self):
        self.scheduler.report("s-adopted", "p-1", "ready", url="http://127.0.0.1:1")  # adopted before run
        self.run_scheduler()
        methods = [m["method"] for m in self.host.messages(3)]
        self.assertEqual(methods, ["host.hello", "scheduler.subscribe", "scheduler.sync"])
        self.assertEqual(self.scheduler.applied.get(timeout=5), [("p-1", 2)])
        for n in range(5):
            self.scheduler.report("s-%d" % n, "p-1", "starting")
        reports = [m["params"]["sandbox"] for m in self.host.messages(5)]
        self.assertEqual(reports, ["s-%d" % n for n in range(5)])

    def test_the_sync_lists_the_latest_state_of_every_live_sandbox(self):
        self.scheduler.report("s-1", "p-1", "starting")
        self.scheduler.report("s-1", "p-1", "ready", url="http://127.0.0.1:1")
        self.scheduler.report("s-2", "p-1", "starting")
        self.scheduler.report("s-2", "p-1", "failed", reason="exited with status 1")
        self.run_scheduler()
        _, sync = self.host.next("scheduler.sync")
        self.assertEqual(sync["params"]["sandboxes"], [
            {"sandbox": "s-1", "pool": "p-1", "state": "ready", "url": "http://127.0.0.1:1"}])

    def test_a_seq_gap_subscribes_again_and_the_snapshot_is_the_whole_truth(self):
        self.snapshot = [pool("p-1", 2), pool("p-2", 1)]
        self.run_scheduler()
        self.host.next("scheduler.sync")
        self.assertEqual(self.scheduler.applied.get(timeout=5), [("p-1", 2), ("p-2", 1)])
        self.host.push("scheduler.desired", {"subscription": "sub-1", "seq": 1, "pools": [pool("p-1", 2), pool("p-2", 3)]})
        self.assertEqual(self.scheduler.applied.get(timeout=5), [("p-2", 3)], "an unchanged pool is not given again")
        self.snapshot = [pool("p-2", 3)]
        self.host.push("scheduler.desired", {"subscription": "sub-1", "seq": 3, "pools": [pool("p-1", 5)]})
        self.host.next("scheduler.subscribe")
        self.assertEqual(self.scheduler.applied.get(timeout=5), [("p-1", 0)], "a pool left out of a snapshot is at 0")
        self.host.push("scheduler.desired", {"subscription": "sub-1", "seq": 4, "pools": [pool("p-1", 7)]})
        self.host.push("scheduler.desired", {"subscription": "sub-2", "seq": 1, "pools": [pool("p-2", 1)]})
        self.assertEqual(self.scheduler.applied.get(timeout=5), [("p-2", 1)], "the replaced subscription is ignored")

    def test_a_dropped_connection_reconnects_and_syncs_without_replaying_reports(self):
        self.run_scheduler()
        self.host.next("scheduler.sync")
        self.host.drop()
        self.scheduler.report("s-1", "p-1", "starting")  # while the host is away: not queued
        number, _ = self.host.next("host.hello")
        self.assertEqual(number, 2)
        self.host.next("scheduler.subscribe")
        _, sync = self.host.next("scheduler.sync")
        self.assertEqual([s["sandbox"] for s in sync["params"]["sandboxes"]], ["s-1"])
        self.scheduler.report("s-1", "p-1", "ready", url="http://127.0.0.1:1")
        _, ready = self.host.next("scheduler.report")
        self.assertEqual(ready["params"]["state"], "ready", "the report made while away was not sent late")

    def test_a_hello_refused_for_good_ends_run_with_the_error(self):
        self.host.answers["host.hello"] = lambda params: {"error": {"code": -32004, "message": "Unsupported protocol"}}
        with self.assertRaises(BatonError) as raised:
            self.scheduler.run(self.stop)
        self.assertEqual(raised.exception.code, -32004)


if __name__ == "__main__":
    unittest.main()
