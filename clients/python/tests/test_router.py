import itertools
import unittest

from baton_client import BatonError, Connection, Leases, may_retry

from fake_host import FakeHost


class RouterTests(unittest.TestCase):
    def setUp(self):
        self.host = FakeHost()
        self.addCleanup(self.host.close)
        numbers = itertools.count(1)
        self.ttl_ms = 30000

        def acquire(params):
            n = next(numbers)
            sandbox = "s-%d" % n
            if sandbox in params.get("exclude", []):
                sandbox = "s-other"
            return {"lease": "l-%d" % n, "url": "http://127.0.0.1:1", "sandbox": sandbox, "app": params["app"],
                    "version": "v1", "service": params["service"], "slots": 2, "ttlMs": self.ttl_ms}

        self.host.answers["lease.acquire"] = acquire
        self.connection = Connection(self.host.path)
        self.addCleanup(self.connection.close)
        self.leases = Leases(self.connection)
        self.addCleanup(self.leases.close)

    def test_a_lease_is_shared_up_to_its_slots(self):
        first, second, third = (self.leases.checkout("shop") for _ in range(3))
        self.assertEqual([first["lease"], second["lease"], third["lease"]], ["l-1", "l-1", "l-2"])
        self.leases.checkin(first)
        self.assertEqual(self.leases.checkout("shop")["lease"], "l-1")
        self.assertEqual(self.leases.checkout("shop", exclude=["s-1", "s-2"])["lease"], "l-3")

    def test_a_revoked_lease_takes_no_new_request_and_is_released_after_its_last(self):
        lease = self.leases.checkout("shop")
        self.leases.revoked(["l-1"])
        self.assertEqual(self.leases.checkout("shop")["lease"], "l-2")
        self.leases.checkin(lease)
        methods = [(m["method"], (m.get("params") or {}).get("lease")) for m in self.host.messages(3)]
        self.assertEqual(methods, [("lease.acquire", None), ("lease.acquire", None), ("lease.release", "l-1")],
                         "released once, after its last request")

    def test_watch_follows_revocations_and_ignores_unknown_notifications(self):
        self.leases.watch(["shop"])
        _, watch = self.host.next("lease.watch")
        self.assertEqual(watch["params"], {"apps": ["shop"]})
        lease = self.leases.checkout("shop")
        self.host.push("host.unknown-notification", {})
        self.host.push("lease.revoked", {"subscription": "w", "leases": ["l-1"], "sandbox": "s-1", "app": "shop",
                                         "reason": "cutover"})
        self.leases.checkin(lease)  # before or after the revocation is read: released either way
        _, release = self.host.next("lease.release")
        self.assertEqual(release["params"]["lease"], "l-1")

    def test_leases_are_renewed_before_their_ttl_and_one_refused_is_dropped(self):
        self.ttl_ms = 300
        self.host.answers["lease.renew"] = lambda params: {"error": {"code": 2003, "message": "Lease gone"}}
        self.leases.watch()
        lease = self.leases.checkout("shop")
        _, renew = self.host.next("lease.renew", timeout=2)
        self.assertEqual(renew["params"]["lease"], "l-1")
        self.leases.checkin(lease)
        _, release = self.host.next("lease.release")
        self.assertEqual(release["params"]["lease"], "l-1")

    def test_invalidate_reports_the_sandbox_and_close_releases_the_rest(self):
        broken = self.leases.checkout("shop")
        self.leases.invalidate(broken, "connect failed")
        _, invalidate = self.host.next("lease.invalidate")
        self.assertEqual(invalidate["params"], {"lease": "l-1", "reason": "connect failed"})
        self.leases.checkin(broken)
        retry = self.leases.checkout("shop", exclude=[broken["sandbox"]])
        self.assertEqual(retry["lease"], "l-2")
        self.leases.close()
        released = {self.host.next("lease.release")[1]["params"]["lease"] for _ in range(2)}
        self.assertEqual(released, {"l-1", "l-2"})

    def test_no_sandbox_is_a_baton_error(self):
        self.host.answers["lease.acquire"] = lambda params: {"error": {"code": 2001, "message": "No sandbox"}}
        with self.assertRaises(BatonError):
            self.leases.checkout("shop")

    def test_only_a_request_that_may_run_twice_is_retried_after_it_was_sent(self):
        self.assertTrue(may_retry("GET", {}))
        self.assertTrue(may_retry("post", {"Idempotency-Key": "k"}))
        self.assertFalse(may_retry("POST", {"Content-Type": "text/plain"}))


if __name__ == "__main__":
    unittest.main()
